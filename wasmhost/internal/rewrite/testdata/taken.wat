;; Already exports the reserved name: cannot be instrumented.
(module
  (global (export "__wasmgate_kill") (mut i32) (i32.const 0))
  (func (export "f")))
