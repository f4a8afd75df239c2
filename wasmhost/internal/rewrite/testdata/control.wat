;; Control flow the rewrite must handle: infinite loops, a loop in a called
;; function, recursion without loops, multi-value loops, nested and
;; labelled branches, br_table, indirect and tail calls, and an imported
;; global (so the kill global's index is imported + defined).
(module
  (import "env" "base" (global $base i32))
  (type $unop (func (param i32) (result i32)))
  (global $calls (mut i32) (i32.const 0))
  (global $scale i64 (i64.const 3))
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $fact $fib)

  ;; Loops forever.
  (func $spin (export "spin")
    (loop $l (br $l)))

  ;; Loops forever in a callee, behind an outer block.
  (func $spin_callee (export "spin_callee") (result i32)
    (block (call $spin))
    (i32.const 7))

  ;; Loops forever through a loop whose body is an if/else.
  (func (export "spin_if") (param $x i32)
    (loop $l
      (if (local.get $x)
        (then (local.set $x (i32.const 0)) (br $l))
        (else (local.set $x (i32.const 1)) (br $l)))))

  ;; Recursion without loops: fib(n) makes ~1.6^n calls.
  (func $fib (export "fib") (type $unop)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add
        (call $fib (i32.sub (local.get 0) (i32.const 1)))
        (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  ;; Unbounded mutual recursion through tail calls (never overflows).
  (func $ping (export "ping") (param i32) (result i32)
    (return_call $pong (i32.add (local.get 0) (i32.const 1))))
  (func $pong (param i32) (result i32)
    (return_call $ping (local.get 0)))

  (func $fact (type $unop)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (i32.mul (local.get 0) (call $fact (i32.sub (local.get 0) (i32.const 1)))))))

  ;; fact(n) through call_indirect, fib(n) through return_call_indirect.
  (func (export "indirect") (param i32) (result i32)
    (i32.add
      (call_indirect $t (type $unop) (local.get 0) (i32.const 0))
      (call $tail_fib (local.get 0))))
  (func $tail_fib (param i32) (result i32)
    (return_call_indirect $t (type $unop) (local.get 0) (i32.const 1)))

  ;; Sum 1..n with a loop, plus the imported base.
  (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i32.add (local.get $acc) (global.get $base)))

  ;; A multi-value loop: (param i32 i32) (result i32 i32); computes
  ;; (a, b) -> (a+b) repeatedly, n times, as a Fibonacci pair.
  (func (export "pairs") (param $n i32) (result i32 i32)
    (i32.const 0) (i32.const 1)
    (loop $l (param i32 i32) (result i32 i32)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (call $step)
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))
  (func $step (param i32 i32) (result i32 i32)
    (local.get 1) (i32.add (local.get 0) (local.get 1)))

  ;; br_table out of nested blocks inside a loop; counts classes of 0..n-1.
  (func (export "classify") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $next
      (block $three (block $two (block $one
        (br_table $one $two $three (i32.rem_u (local.get $i) (i32.const 3))))
        (local.set $acc (i32.add (local.get $acc) (i32.const 1))) (br $three))
        (local.set $acc (i32.add (local.get $acc) (i32.const 100))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  ;; Wide immediates: i64/f32/f64 constants, memory arguments with offsets,
  ;; sign extension, saturating truncation, bulk memory, reference types.
  (func (export "misc") (result i64) (local $r i64)
    (i64.store offset=60000 align=4 (i32.const 0) (i64.const -0x7fffffffffffffff))
    (memory.fill (i32.const 16) (i32.const 0xab) (i32.const 8))
    (memory.copy (i32.const 32) (i32.const 16) (i32.const 8))
    (local.set $r (i64.extend8_s (i64.load8_u (i32.const 32))))
    (local.set $r (i64.add (local.get $r)
      (i64.trunc_sat_f64_s (f64.const 1e300))))
    (local.set $r (i64.add (local.get $r)
      (i64.extend_i32_s (i32.trunc_sat_f32_u (f32.const -5.5)))))
    (local.set $r (i64.add (local.get $r) (i64.extend_i32_u (table.size $t))))
    (local.set $r (i64.add (local.get $r)
      (i64.extend_i32_u (ref.is_null (table.get $t (i32.const 3))))))
    (table.set $t (i32.const 3) (ref.func $fact))
    (local.set $r (i64.add (local.get $r)
      (i64.extend_i32_u (ref.is_null (table.get $t (i32.const 3))))))
    (local.set $r (i64.add (local.get $r) (global.get $scale)))
    (i64.add (local.get $r) (i64.load offset=60000 (i32.const 0))))

  ;; Calls into wazero compiled code with the kill global set trap here
  ;; at the function entry, before anything else runs.
  (func (export "calls") (result i32) (global.get $calls))
)
