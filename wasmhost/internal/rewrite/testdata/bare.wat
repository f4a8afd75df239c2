;; No global, export or custom section: the rewrite creates the first two.
(module
  (func $f (result i32) (i32.const 42))
  (start $g)
  (func $g (drop (call $f))))
