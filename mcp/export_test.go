package mcp

// Brokers returns how many approvals brokers the server holds: one per
// session with calls in flight.
func (s *Server) Brokers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// MemoryGroup is memoryGroup, for TestEachClientHasItsOwnMemoryGroup.
var MemoryGroup = memoryGroup
