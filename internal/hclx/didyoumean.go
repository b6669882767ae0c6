package hclx

// DidYouMean returns the candidate closest to name by edit distance, or ""
// when none is close enough to be a plausible typo. It is used for the
// "Did you mean …?" hints on unknown block types, attributes and values.
func DidYouMean(name string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(name, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Two edits or fewer, and fewer edits than the word is long: "acess"
	// suggests "access", but "x" does not suggest "env".
	if bestDist < 0 || bestDist > 2 || bestDist >= len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in
// bytes (names in this language are ASCII).
func editDistance(a, b string) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			up := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			row[j] = min(row[j]+1, row[j-1]+1, diag+cost)
			diag = up
		}
	}
	return row[len(b)]
}
