;; SIMD in and around loops: every immediate shape of the 0xfd prefix
;; (memarg, v128.const, shuffle lanes, lane indices, memarg + lane).
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10")

  ;; Sums n vectors of i32x4 lanes starting at 0 (after filling memory
  ;; with a splat), then folds the lanes.
  (func (export "vsum") (param $n i32) (result i32) (local $acc v128) (local $p i32)
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (loop $fill
      (v128.store offset=64 (i32.shl (local.get $p) (i32.const 4))
        (i32x4.splat (i32.add (local.get $p) (i32.const 1))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $p) (local.get $n))))
    (local.set $p (i32.const 0))
    (loop $add
      (local.set $acc (i32x4.add (local.get $acc)
        (v128.load offset=64 align=16 (i32.shl (local.get $p) (i32.const 4)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $add (i32.lt_u (local.get $p) (local.get $n))))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))

  ;; Shuffles, lane loads/stores, splat loads, zero loads, bitselect.
  (func (export "lanes") (result i64) (local $v v128)
    (local.set $v (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
      (v128.load (i32.const 0)) (v128.const i64x2 0 0)))
    (local.set $v (v128.load8_lane 3 (i32.const 0) (local.get $v)))
    (v128.store16_lane offset=200 7 (i32.const 0) (local.get $v))
    (local.set $v (i16x8.replace_lane 7 (local.get $v) (i32.const 0x55aa)))
    (local.set $v (v128.bitselect (local.get $v) (v128.load32_splat (i32.const 4))
      (v128.const i32x4 -1 0 -1 0)))
    (i64.add
      (i64.add (i64x2.extract_lane 0 (local.get $v)) (i64x2.extract_lane 1 (local.get $v)))
      (i64.add (i64x2.extract_lane 0 (v128.load64_zero (i32.const 8)))
        (i64.extend_i32_u (i32.load16_u offset=200 (i32.const 0))))))

  ;; Loops forever doing SIMD work.
  (func (export "vspin") (local $v v128)
    (loop $l
      (local.set $v (f32x4.mul (local.get $v) (v128.const f32x4 1.5 2.5 3.5 4.5)))
      (br $l)))
)
