;; Provides the imported global of control.wat (not instrumented).
(module
  (global (export "base") i32 (i32.const 1000)))
