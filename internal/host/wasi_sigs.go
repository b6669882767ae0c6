package host

import "github.com/tetratelabs/wazero/api"

// wasiSignature is the type of one WASI preview 1 function, with the
// parameter names wazero gives it (for traces and wazero's listeners).
type wasiSignature struct {
	name       string
	params     []api.ValueType
	paramNames []string
	results    []api.ValueType
}

// wasiSignatures lists every function of wasi_snapshot_preview1, sorted by
// name, as wazero's WASI defines them (TestWASISignaturesAreWazeros
// compares them with the wazero this module builds with). airlock serves
// each itself (wasi.go, wasi_proc.go); taking the types from a compiled
// copy of wazero's WASI cost every new runtime a second host-module
// compile, a quarter of a millisecond and more in a cold process.
var wasiSignatures = []wasiSignature{
	{"args_get", []api.ValueType{i32, i32}, []string{"argv", "argv_buf"}, []api.ValueType{i32}},
	{"args_sizes_get", []api.ValueType{i32, i32}, []string{"result.argc", "result.argv_len"}, []api.ValueType{i32}},
	{"clock_res_get", []api.ValueType{i32, i32}, []string{"id", "result.resolution"}, []api.ValueType{i32}},
	{"clock_time_get", []api.ValueType{i32, i64, i32}, []string{"id", "precision", "result.timestamp"}, []api.ValueType{i32}},
	{"environ_get", []api.ValueType{i32, i32}, []string{"environ", "environ_buf"}, []api.ValueType{i32}},
	{"environ_sizes_get", []api.ValueType{i32, i32}, []string{"result.environc", "result.environv_len"}, []api.ValueType{i32}},
	{"fd_advise", []api.ValueType{i32, i64, i64, i32}, []string{"fd", "offset", "len", "advice"}, []api.ValueType{i32}},
	{"fd_allocate", []api.ValueType{i32, i64, i64}, []string{"fd", "offset", "len"}, []api.ValueType{i32}},
	{"fd_close", []api.ValueType{i32}, []string{"fd"}, []api.ValueType{i32}},
	{"fd_datasync", []api.ValueType{i32}, []string{"fd"}, []api.ValueType{i32}},
	{"fd_fdstat_get", []api.ValueType{i32, i32}, []string{"fd", "result.stat"}, []api.ValueType{i32}},
	{"fd_fdstat_set_flags", []api.ValueType{i32, i32}, []string{"fd", "flags"}, []api.ValueType{i32}},
	{"fd_fdstat_set_rights", []api.ValueType{i32, i64, i64}, []string{"fd", "fs_rights_base", "fs_rights_inheriting"}, []api.ValueType{i32}},
	{"fd_filestat_get", []api.ValueType{i32, i32}, []string{"fd", "result.filestat"}, []api.ValueType{i32}},
	{"fd_filestat_set_size", []api.ValueType{i32, i64}, []string{"fd", "size"}, []api.ValueType{i32}},
	{"fd_filestat_set_times", []api.ValueType{i32, i64, i64, i32}, []string{"fd", "atim", "mtim", "fst_flags"}, []api.ValueType{i32}},
	{"fd_pread", []api.ValueType{i32, i32, i32, i64, i32}, []string{"fd", "iovs", "iovs_len", "offset", "result.nread"}, []api.ValueType{i32}},
	{"fd_prestat_dir_name", []api.ValueType{i32, i32, i32}, []string{"fd", "result.path", "result.path_len"}, []api.ValueType{i32}},
	{"fd_prestat_get", []api.ValueType{i32, i32}, []string{"fd", "result.prestat"}, []api.ValueType{i32}},
	{"fd_pwrite", []api.ValueType{i32, i32, i32, i64, i32}, []string{"fd", "iovs", "iovs_len", "offset", "result.nwritten"}, []api.ValueType{i32}},
	{"fd_read", []api.ValueType{i32, i32, i32, i32}, []string{"fd", "iovs", "iovs_len", "result.nread"}, []api.ValueType{i32}},
	{"fd_readdir", []api.ValueType{i32, i32, i32, i64, i32}, []string{"fd", "buf", "buf_len", "cookie", "result.bufused"}, []api.ValueType{i32}},
	{"fd_renumber", []api.ValueType{i32, i32}, []string{"fd", "to"}, []api.ValueType{i32}},
	{"fd_seek", []api.ValueType{i32, i64, i32, i32}, []string{"fd", "offset", "whence", "result.newoffset"}, []api.ValueType{i32}},
	{"fd_sync", []api.ValueType{i32}, []string{"fd"}, []api.ValueType{i32}},
	{"fd_tell", []api.ValueType{i32, i32}, []string{"fd", "result.offset"}, []api.ValueType{i32}},
	{"fd_write", []api.ValueType{i32, i32, i32, i32}, []string{"fd", "iovs", "iovs_len", "result.nwritten"}, []api.ValueType{i32}},
	{"path_create_directory", []api.ValueType{i32, i32, i32}, []string{"fd", "path", "path_len"}, []api.ValueType{i32}},
	{"path_filestat_get", []api.ValueType{i32, i32, i32, i32, i32}, []string{"fd", "flags", "path", "path_len", "result.filestat"}, []api.ValueType{i32}},
	{"path_filestat_set_times", []api.ValueType{i32, i32, i32, i32, i64, i64, i32}, []string{"fd", "flags", "path", "path_len", "atim", "mtim", "fst_flags"}, []api.ValueType{i32}},
	{"path_link", []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, []string{"old_fd", "old_flags", "old_path", "old_path_len", "new_fd", "new_path", "new_path_len"}, []api.ValueType{i32}},
	{"path_open", []api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}, []string{"fd", "dirflags", "path", "path_len", "oflags", "fs_rights_base", "fs_rights_inheriting", "fdflags", "result.opened_fd"}, []api.ValueType{i32}},
	{"path_readlink", []api.ValueType{i32, i32, i32, i32, i32, i32}, []string{"fd", "path", "path_len", "buf", "buf_len", "result.bufused"}, []api.ValueType{i32}},
	{"path_remove_directory", []api.ValueType{i32, i32, i32}, []string{"fd", "path", "path_len"}, []api.ValueType{i32}},
	{"path_rename", []api.ValueType{i32, i32, i32, i32, i32, i32}, []string{"fd", "old_path", "old_path_len", "new_fd", "new_path", "new_path_len"}, []api.ValueType{i32}},
	{"path_symlink", []api.ValueType{i32, i32, i32, i32, i32}, []string{"old_path", "old_path_len", "fd", "new_path", "new_path_len"}, []api.ValueType{i32}},
	{"path_unlink_file", []api.ValueType{i32, i32, i32}, []string{"fd", "path", "path_len"}, []api.ValueType{i32}},
	{"poll_oneoff", []api.ValueType{i32, i32, i32, i32}, []string{"in", "out", "nsubscriptions", "result.nevents"}, []api.ValueType{i32}},
	{"proc_exit", []api.ValueType{i32}, []string{"rval"}, []api.ValueType{}},
	{"proc_raise", []api.ValueType{i32}, []string{"sig"}, []api.ValueType{i32}},
	{"random_get", []api.ValueType{i32, i32}, []string{"buf", "buf_len"}, []api.ValueType{i32}},
	{"sched_yield", []api.ValueType{}, []string(nil), []api.ValueType{i32}},
	{"sock_accept", []api.ValueType{i32, i32, i32}, []string{"fd", "flags", "result.fd"}, []api.ValueType{i32}},
	{"sock_recv", []api.ValueType{i32, i32, i32, i32, i32, i32}, []string{"fd", "ri_data", "ri_data_len", "ri_flags", "result.ro_datalen", "result.ro_flags"}, []api.ValueType{i32}},
	{"sock_send", []api.ValueType{i32, i32, i32, i32, i32}, []string{"fd", "si_data", "si_data_len", "si_flags", "result.so_datalen"}, []api.ValueType{i32}},
	{"sock_shutdown", []api.ValueType{i32, i32}, []string{"fd", "how"}, []api.ValueType{i32}},
}
