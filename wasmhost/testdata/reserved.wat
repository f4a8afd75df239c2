;; Loops forever in proxy_on_request_headers and already exports the name
;; the deadline instrumentation reserves (__wasmgate_kill), so it cannot be
;; instrumented: its deadlines fall back to wazero's context watch.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global (export "__wasmgate_kill") (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
)
