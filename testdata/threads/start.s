# wasi_thread_start(tid, start_arg): where wasi-threads enter a new thread.
# A new instance starts with __stack_pointer at the main thread's stack, so
# before any C code runs it moves to the thread's own stack, whose top is
# the first word of the struct that start_arg points to (threads.c).
	.text
	.globaltype __stack_pointer, i32
	.functype thread_main (i32, i32) -> ()
	.globl wasi_thread_start
	.type wasi_thread_start,@function
wasi_thread_start:
	.functype wasi_thread_start (i32, i32) -> ()
	local.get 1
	i32.load 0
	global.set __stack_pointer
	local.get 0
	local.get 1
	call thread_main
	end_function
