;; Old-AssemblyScript style module: imports wasi_unstable and env.abort,
;; exports _initialize and main (both must run, in that order, before
;; proxy_on_vm_start, which fails otherwise) and uses malloc.
(module
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $step (mut i32) (i32.const 0))
  (data (i32.const 16) "hello from wasi_unstable\n")
  (data (i32.const 48) "\10\00\00\00\19\00\00\00") ;; iovec {16, 25}
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "_initialize") (if (i32.eqz (global.get $step)) (then (global.set $step (i32.const 1)))))
  (func (export "main") (param i32 i32) (result i32)
    (if (i32.eq (global.get $step) (i32.const 1)) (then (global.set $step (i32.const 2))))
    (i32.const 0))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $fd_write (i32.const 1) (i32.const 48) (i32.const 1) (i32.const 56)))
    (i32.eq (global.get $step) (i32.const 2)))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $abort (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 3))
    (i32.const 0))
)
