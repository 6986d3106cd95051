;; @fusechat/merge's WebAssembly SIMD kernels. Hand-written so every floating-point operation is
;; the one the JavaScript reference loop performs, in the same order (results are bit-identical;
;; merge-kernels.test.ts compares them). Pointers are byte offsets into the imported memory, which
;; holds the engine's input buffers (KernelArena), so nothing is copied in or out.
;;
;; Rebuild the TypeScript module that embeds the binary with
;;   node packages/merge/scripts/build-kernels.mjs
;; (merge-kernels.test.ts fails when the committed binary is not this file's).
(module
  ;; Shared, so a helper thread can run part of an element-wise kernel on the same buffers.
  (import "env" "memory" (memory 1 65536 shared))

  ;; Lane idioms, written inline (V8 does not inline wasm calls): lanes 2 and 3 of an f32x4 to
  ;; lanes 0 and 1 for f64x2.promote_low_f32x4 is
  ;; `i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 v v`; two demoted halves
  ;; ([x0 x1 0 0], [x2 x3 0 0]) joined into [x0 x1 x2 x3] is
  ;; `i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 low high`.

  ;; out[i] = f32(0 + ca·a[i] + cb·b[i]) in float64, i < n; returns 1 when every result is finite.
  ;; `out` may be `a` or `b` (each element is read before it is written).
  (func (export "mix2")
    (param $out i32) (param $a i32) (param $b i32) (param $n i32) (param $ca f64) (param $cb f64)
    (result i32)
    (local $i i32) (local $bytes i32) (local $vector_bytes i32)
    (local $vca v128) (local $vcb v128) (local $check v128) (local $va v128) (local $vb v128)
    (local $low v128) (local $value v128) (local $scalar f32) (local $scalar_check f32)
    (local.set $vca (f64x2.splat (local.get $ca)))
    (local.set $vcb (f64x2.splat (local.get $cb)))
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vector_bytes (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_bytes)))
        (local.set $va (v128.load align=4 (i32.add (local.get $a) (local.get $i))))
        (local.set $vb (v128.load align=4 (i32.add (local.get $b) (local.get $i))))
        (local.set $low
          (f32x4.demote_f64x2_zero
            (f64x2.add
              (f64x2.add (f64x2.splat (f64.const 0))
                (f64x2.mul (local.get $vca) (f64x2.promote_low_f32x4 (local.get $va))))
              (f64x2.mul (local.get $vcb) (f64x2.promote_low_f32x4 (local.get $vb))))))
        (local.set $value
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $low) (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.splat (f64.const 0))
                  (f64x2.mul (local.get $vca) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va)))))
                (f64x2.mul (local.get $vcb) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb))))))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (local.get $value))
        (local.set $check (f32x4.add (local.get $check) (f32x4.sub (local.get $value) (local.get $value))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $scalar
          (f32.demote_f64
            (f64.add
              (f64.add (f64.const 0)
                (f64.mul (local.get $ca) (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $i))))))
              (f64.mul (local.get $cb) (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $i))))))))
        (f32.store (i32.add (local.get $out) (local.get $i)) (local.get $scalar))
        (local.set $scalar_check
          (f32.add (local.get $scalar_check) (f32.sub (local.get $scalar) (local.get $scalar))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (i32.and
      (i32x4.all_true (f32x4.eq (local.get $check) (v128.const f32x4 0 0 0 0)))
      (f32.eq (local.get $scalar_check) (f32.const 0))))

  ;; out[i] = f32(0 + ca·a[i] + cb·b[i] + cc·c[i]) in float64; returns 1 when every result is finite.
  (func (export "mix3")
    (param $out i32) (param $a i32) (param $b i32) (param $c i32) (param $n i32)
    (param $ca f64) (param $cb f64) (param $cc f64)
    (result i32)
    (local $i i32) (local $bytes i32) (local $vector_bytes i32)
    (local $vca v128) (local $vcb v128) (local $vcc v128) (local $check v128)
    (local $va v128) (local $vb v128) (local $vc v128)
    (local $low v128) (local $value v128) (local $scalar f32) (local $scalar_check f32)
    (local.set $vca (f64x2.splat (local.get $ca)))
    (local.set $vcb (f64x2.splat (local.get $cb)))
    (local.set $vcc (f64x2.splat (local.get $cc)))
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vector_bytes (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_bytes)))
        (local.set $va (v128.load align=4 (i32.add (local.get $a) (local.get $i))))
        (local.set $vb (v128.load align=4 (i32.add (local.get $b) (local.get $i))))
        (local.set $vc (v128.load align=4 (i32.add (local.get $c) (local.get $i))))
        (local.set $low
          (f32x4.demote_f64x2_zero
            (f64x2.add
              (f64x2.add
                (f64x2.add (f64x2.splat (f64.const 0))
                  (f64x2.mul (local.get $vca) (f64x2.promote_low_f32x4 (local.get $va))))
                (f64x2.mul (local.get $vcb) (f64x2.promote_low_f32x4 (local.get $vb))))
              (f64x2.mul (local.get $vcc) (f64x2.promote_low_f32x4 (local.get $vc))))))
        (local.set $value
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $low) (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add
                  (f64x2.add (f64x2.splat (f64.const 0))
                    (f64x2.mul (local.get $vca) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va)))))
                  (f64x2.mul (local.get $vcb) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb)))))
                (f64x2.mul (local.get $vcc) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vc) (local.get $vc))))))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (local.get $value))
        (local.set $check (f32x4.add (local.get $check) (f32x4.sub (local.get $value) (local.get $value))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $scalar
          (f32.demote_f64
            (f64.add
              (f64.add
                (f64.add (f64.const 0)
                  (f64.mul (local.get $ca) (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $i))))))
                (f64.mul (local.get $cb) (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $i))))))
              (f64.mul (local.get $cc) (f64.promote_f32 (f32.load (i32.add (local.get $c) (local.get $i))))))))
        (f32.store (i32.add (local.get $out) (local.get $i)) (local.get $scalar))
        (local.set $scalar_check
          (f32.add (local.get $scalar_check) (f32.sub (local.get $scalar) (local.get $scalar))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (i32.and
      (i32x4.all_true (f32x4.eq (local.get $check) (v128.const f32x4 0 0 0 0)))
      (f32.eq (local.get $scalar_check) (f32.const 0))))

  ;; sum + Σ (model[i] − base[i])² over byte range [start, end), in float64, in index order.
  (func (export "squared_change")
    (param $model i32) (param $base i32) (param $start i32) (param $end i32) (param $sum f64)
    (result f64)
    (local $i i32) (local $d f64)
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $d
          (f64.sub
            (f64.promote_f32 (f32.load (i32.add (local.get $model) (local.get $i))))
            (f64.promote_f32 (f32.load (i32.add (local.get $base) (local.get $i))))))
        (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $d) (local.get $d))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (local.get $sum))

  ;; Two models at once (two independent float64 sums, each in index order), byte range
  ;; [start, end); the sums are returned through memory at `sums` (two f64).
  (func (export "squared_change2")
    (param $first i32) (param $second i32) (param $base i32) (param $start i32) (param $end i32)
    (param $sums i32)
    (local $i i32) (local $b f64) (local $d f64) (local $e f64) (local $first_sum f64) (local $second_sum f64)
    (local.set $first_sum (f64.load (local.get $sums)))
    (local.set $second_sum (f64.load offset=8 (local.get $sums)))
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (f64.promote_f32 (f32.load (i32.add (local.get $base) (local.get $i)))))
        (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $first) (local.get $i)))) (local.get $b)))
        (local.set $e (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $second) (local.get $i)))) (local.get $b)))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64.mul (local.get $d) (local.get $d))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64.mul (local.get $e) (local.get $e))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (f64.store (local.get $sums) (local.get $first_sum))
    (f64.store offset=8 (local.get $sums) (local.get $second_sum)))

;; ---- TIES, two models --------------------------------------------------------------------------

  ;; TwoModelDeltas.advance over byte range [start, end): first/second become float32 deltas
  ;; against base in place; the float64 sums (at `sums`, two f64) add (x − b)² of the unrounded
  ;; differences in index order; `counts` (4 × 65536 u32) counts the deltas' sign-cleared high 16
  ;; bits: the first model's even elements in table 0, odd in 1, the second's in 2 and 3.
  (func (export "ties_deltas2")
    (param $first i32) (param $second i32) (param $base i32) (param $counts i32)
    (param $start i32) (param $end i32) (param $sums i32)
    (local $i i32) (local $vector_end i32) (local $first_sum f64) (local $second_sum f64)
    (local $vb v128) (local $vd_low v128) (local $vd_high v128) (local $ve_low v128) (local $ve_high v128)
    (local $sd_low v128) (local $sd_high v128) (local $se_low v128) (local $se_high v128)
    (local $d v128) (local $e v128) (local $hd v128) (local $he v128) (local $va v128) (local $vs v128)
    (local $b f64) (local $x f64) (local $y f64) (local $at i32) (local $parity i32)
    (local.set $first_sum (f64.load (local.get $sums)))
    (local.set $second_sum (f64.load offset=8 (local.get $sums)))
    (local.set $i (local.get $start))
    ;; Vector body, 4 elements per step; lanes 0 and 2 count in tables 0/2, lanes 1 and 3 in 1/3
    ;; (which table an element counts in changes no sum: finish adds tables 0+1 and 2+3).
    (local.set $vector_end
      (i32.add (local.get $start)
        (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const -16))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_end)))
        (local.set $vb (v128.load align=4 (i32.add (local.get $base) (local.get $i))))
        (local.set $va (v128.load align=4 (i32.add (local.get $first) (local.get $i))))
        (local.set $vs (v128.load align=4 (i32.add (local.get $second) (local.get $i))))
        (local.set $vd_low (f64x2.sub (f64x2.promote_low_f32x4 (local.get $va)) (f64x2.promote_low_f32x4 (local.get $vb))))
        (local.set $vd_high
          (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb)))))
        (local.set $ve_low (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vs)) (f64x2.promote_low_f32x4 (local.get $vb))))
        (local.set $ve_high
          (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vs) (local.get $vs))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb)))))
        (local.set $sd_low (f64x2.mul (local.get $vd_low) (local.get $vd_low)))
        (local.set $sd_high (f64x2.mul (local.get $vd_high) (local.get $vd_high)))
        (local.set $se_low (f64x2.mul (local.get $ve_low) (local.get $ve_low)))
        (local.set $se_high (f64x2.mul (local.get $ve_high) (local.get $ve_high)))
        ;; In index order per model, as the JS loop adds them.
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 0 (local.get $sd_low))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 0 (local.get $se_low))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 1 (local.get $sd_low))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 1 (local.get $se_low))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 0 (local.get $sd_high))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 0 (local.get $se_high))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 1 (local.get $sd_high))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 1 (local.get $se_high))))
        (local.set $d
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $vd_low)) (f32x4.demote_f64x2_zero (local.get $vd_high))))
        (local.set $e
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $ve_low)) (f32x4.demote_f64x2_zero (local.get $ve_high))))
        (v128.store align=4 (i32.add (local.get $first) (local.get $i)) (local.get $d))
        (v128.store align=4 (i32.add (local.get $second) (local.get $i)) (local.get $e))
        ;; Byte offsets of the counters: ((bits & 0x7fffffff) >>> 16) × 4, plus the table.
        (local.set $hd (i32x4.shl (i32x4.shr_u (v128.and (local.get $d) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (i32.const 16)) (i32.const 2)))
        (local.set $he (i32x4.shl (i32x4.shr_u (v128.and (local.get $e) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (i32.const 16)) (i32.const 2)))
        (local.set $hd (i32x4.add (local.get $hd) (v128.const i32x4 0 262144 0 262144)))
        (local.set $he (i32x4.add (local.get $he) (v128.const i32x4 524288 786432 524288 786432)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 0 (local.get $hd))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 0 (local.get $he))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 1 (local.get $hd))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 1 (local.get $he))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 2 (local.get $hd))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 2 (local.get $he))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 3 (local.get $hd))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 3 (local.get $he))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (f64.promote_f32 (f32.load (i32.add (local.get $base) (local.get $i)))))
        (local.set $x (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $first) (local.get $i)))) (local.get $b)))
        (local.set $y (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $second) (local.get $i)))) (local.get $b)))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64.mul (local.get $x) (local.get $x))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64.mul (local.get $y) (local.get $y))))
        (f32.store (i32.add (local.get $first) (local.get $i)) (f32.demote_f64 (local.get $x)))
        (f32.store (i32.add (local.get $second) (local.get $i)) (f32.demote_f64 (local.get $y)))
        (local.set $at
          (i32.add (local.get $counts)
            (i32.shl (i32.shr_u (i32.and (i32.load (i32.add (local.get $first) (local.get $i))) (i32.const 0x7fffffff)) (i32.const 16)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at
          (i32.add (i32.add (local.get $counts) (i32.const 524288))
            (i32.shl (i32.shr_u (i32.and (i32.load (i32.add (local.get $second) (local.get $i))) (i32.const 0x7fffffff)) (i32.const 16)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (f64.store (local.get $sums) (local.get $first_sum))
    (f64.store offset=8 (local.get $sums) (local.get $second_sum)))

  ;; findThreshold's low pass: for each of `n` words whose sign-cleared high 16 bits equal
  ;; `bucket`, count its low 16 bits in `low` (65536 u32). Four words are tested at once; the
  ;; rare hits are counted one by one.
  (func (export "low_histogram") (param $bits i32) (param $n i32) (param $bucket i32) (param $low i32)
    (local $i i32) (local $bytes i32) (local $vector_bytes i32) (local $target v128) (local $v v128)
    (local $word i32) (local $lane i32) (local $at i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vector_bytes (i32.and (local.get $bytes) (i32.const -16)))
    (local.set $target (i32x4.splat (local.get $bucket)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_bytes)))
        (local.set $v (v128.load align=4 (i32.add (local.get $bits) (local.get $i))))
        (if (v128.any_true
              (i32x4.eq
                (i32x4.shr_u (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (i32.const 16))
                (local.get $target)))
          (then
            (local.set $lane (i32.const 0))
            (loop $lanes
              (local.set $word
                (i32.and (i32.load (i32.add (i32.add (local.get $bits) (local.get $i)) (i32.shl (local.get $lane) (i32.const 2))))
                  (i32.const 0x7fffffff)))
              (if (i32.eq (i32.shr_u (local.get $word) (i32.const 16)) (local.get $bucket))
                (then
                  (local.set $at (i32.add (local.get $low) (i32.shl (i32.and (local.get $word) (i32.const 0xffff)) (i32.const 2))))
                  (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))))
              (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
              (br_if $lanes (i32.lt_u (local.get $lane) (i32.const 4))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $word (i32.and (i32.load (i32.add (local.get $bits) (local.get $i))) (i32.const 0x7fffffff)))
        (if (i32.eq (i32.shr_u (local.get $word) (i32.const 16)) (local.get $bucket))
          (then
            (local.set $at (i32.add (local.get $low) (i32.shl (i32.and (local.get $word) (i32.const 0xffff)) (i32.const 2))))
            (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail))))

;; The element index of the `count`-th (1-based) of `n` words whose sign-cleared bits equal
  ;; `target`, or −1 when fewer match. Four words are compared at once; the matches (few: ties at
  ;; one threshold) are counted one by one.
  (func (export "nth_equal") (param $bits i32) (param $n i32) (param $target i32) (param $count i32) (result i32)
    (local $i i32) (local $bytes i32) (local $vector_bytes i32) (local $vtarget v128) (local $end i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vector_bytes (i32.and (local.get $bytes) (i32.const -16)))
    (local.set $vtarget (i32x4.splat (local.get $target)))
    (block $scalar
      (loop $next
        (br_if $scalar (i32.ge_u (local.get $i) (local.get $vector_bytes)))
        (if (v128.any_true
              (i32x4.eq
                (v128.and (v128.load align=4 (i32.add (local.get $bits) (local.get $i)))
                  (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                (local.get $vtarget)))
          (then (br $scalar)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    ;; From the first group with a match (or the tail): word by word until that group ends, then
    ;; back to the vector scan.
    (block $done
      (loop $words
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $end (i32.add (local.get $i) (i32.const 16)))
        (block $group_done
          (loop $group
            (br_if $group_done (i32.ge_u (local.get $i) (local.get $end)))
            (br_if $group_done (i32.ge_u (local.get $i) (local.get $bytes)))
            (if (i32.eq (i32.and (i32.load (i32.add (local.get $bits) (local.get $i))) (i32.const 0x7fffffff))
                  (local.get $target))
              (then
                (local.set $count (i32.sub (local.get $count) (i32.const 1)))
                (if (i32.eqz (local.get $count)) (then (return (i32.shr_u (local.get $i) (i32.const 2)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $group)))
        ;; Skip groups without a match.
        (block $skip_done
          (loop $skip
            (br_if $skip_done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $bytes)))
            (br_if $skip_done
              (v128.any_true
                (i32x4.eq
                  (v128.and (v128.load align=4 (i32.add (local.get $bits) (local.get $i)))
                    (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                  (local.get $vtarget))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $skip)))
        (br $words)))
    (i32.const -1))

  ;; mixRangeByMagnitudeReciprocal (sign-consensus.ts) over byte range [start, end): trim both
  ;; deltas by their cuts (written back), majority sign from the magnitude bits (|w1| = |w2|),
  ;; disjoint mean times the exact power-of-two reciprocals, into base. Returns 1 when a merged
  ;; value is not finite, else 0.
  (func (export "ties_mix_magnitude")
    (param $base i32) (param $first i32) (param $second i32) (param $start i32) (param $end i32)
    (param $first_below i32) (param $second_below i32) (param $w1 f64) (param $w2 f64)
    (param $first_sign i32) (param $second_sign i32)
    (param $r0 f64) (param $r1 f64) (param $r2 f64) (param $r3 f64) (param $lambda f64)
    (result i32)
    (local $i i32) (local $vector_end i32)
    (local $clear v128) (local $one v128) (local $fb v128) (local $sb v128) (local $fs v128) (local $ss v128)
    (local $u v128) (local $v v128) (local $sign_a v128) (local $sign_b v128) (local $mag_a v128) (local $mag_b v128)
    (local $majority v128) (local $keep_a v128) (local $keep_b v128)
    (local $vw1 v128) (local $vw2 v128) (local $vl v128) (local $vr0 v128) (local $vr1 v128) (local $vr2 v128) (local $vr3 v128)
    (local $vbase v128) (local $low v128) (local $high v128) (local $merged v128) (local $check v128)
    (local $mask_a v128) (local $mask_b v128)
    (local $uu i32) (local $vv i32) (local $sa i32) (local $sb2 i32) (local $ma i32) (local $mb i32) (local $maj i32)
    (local $ka i32) (local $kb i32) (local $value f64) (local $scalar f32) (local $scalar_check f32) (local $code i32)
    (local.set $clear (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $fb (i32x4.splat (local.get $first_below)))
    (local.set $sb (i32x4.splat (local.get $second_below)))
    (local.set $fs (i32x4.splat (local.get $first_sign)))
    (local.set $ss (i32x4.splat (local.get $second_sign)))
    (local.set $vw1 (f64x2.splat (local.get $w1)))
    (local.set $vw2 (f64x2.splat (local.get $w2)))
    (local.set $vl (f64x2.splat (local.get $lambda)))
    (local.set $vr0 (f64x2.splat (local.get $r0)))
    (local.set $vr1 (f64x2.splat (local.get $r1)))
    (local.set $vr2 (f64x2.splat (local.get $r2)))
    (local.set $vr3 (f64x2.splat (local.get $r3)))
    (local.set $i (local.get $start))
    (local.set $vector_end
      (i32.add (local.get $start) (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const -16))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_end)))
        ;; u = u0 & ((below − |u0|) >> 31), the same for v.
        (local.set $u (v128.load align=4 (i32.add (local.get $first) (local.get $i))))
        (local.set $v (v128.load align=4 (i32.add (local.get $second) (local.get $i))))
        (local.set $u (v128.and (local.get $u)
          (i32x4.shr_s (i32x4.sub (local.get $fb) (v128.and (local.get $u) (local.get $clear))) (i32.const 31))))
        (local.set $v (v128.and (local.get $v)
          (i32x4.shr_s (i32x4.sub (local.get $sb) (v128.and (local.get $v) (local.get $clear))) (i32.const 31))))
        (v128.store align=4 (i32.add (local.get $first) (local.get $i)) (local.get $u))
        (v128.store align=4 (i32.add (local.get $second) (local.get $i)) (local.get $v))
        (local.set $sign_a (v128.xor (i32x4.shr_u (local.get $u) (i32.const 31)) (local.get $fs)))
        (local.set $sign_b (v128.xor (i32x4.shr_u (local.get $v) (i32.const 31)) (local.get $ss)))
        (local.set $mag_a (v128.and (local.get $u) (local.get $clear)))
        (local.set $mag_b (v128.and (local.get $v) (local.get $clear)))
        (local.set $majority
          (v128.or
            (v128.or
              (v128.and (local.get $sign_a) (local.get $sign_b))
              (v128.and (i32x4.shr_u (i32x4.sub (local.get $mag_b) (local.get $mag_a)) (i32.const 31)) (local.get $sign_a)))
            (v128.and (i32x4.shr_u (i32x4.sub (local.get $mag_a) (local.get $mag_b)) (i32.const 31)) (local.get $sign_b))))
        (local.set $keep_a (i32x4.sub (local.get $one)
          (v128.or (v128.xor (local.get $sign_a) (local.get $majority))
            (i32x4.shr_u (i32x4.sub (local.get $mag_a) (local.get $one)) (i32.const 31)))))
        (local.set $keep_b (i32x4.sub (local.get $one)
          (v128.or (v128.xor (local.get $sign_b) (local.get $majority))
            (i32x4.shr_u (i32x4.sub (local.get $mag_b) (local.get $one)) (i32.const 31)))))
        (local.set $vbase (v128.load align=4 (i32.add (local.get $base) (local.get $i))))
        (local.set $mask_a (i64x2.neg (i64x2.extend_low_i32x4_s (local.get $keep_a))))
        (local.set $mask_b (i64x2.neg (i64x2.extend_low_i32x4_s (local.get $keep_b))))
        (local.set $low
          (f64x2.add (f64x2.promote_low_f32x4 (local.get $vbase))
            (f64x2.mul (local.get $vl)
              (f64x2.mul
                (f64x2.add
                  (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $keep_a))
                    (f64x2.mul (local.get $vw1) (f64x2.promote_low_f32x4 (local.get $u))))
                  (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $keep_b))
                    (f64x2.mul (local.get $vw2) (f64x2.promote_low_f32x4 (local.get $v)))))
                ;; reciprocal[keepA·2 + keepB]
                (v128.bitselect
                  (v128.bitselect (local.get $vr3) (local.get $vr2) (local.get $mask_b))
                  (v128.bitselect (local.get $vr1) (local.get $vr0) (local.get $mask_b))
                  (local.get $mask_a))))))
        (local.set $mask_a (i64x2.neg (i64x2.extend_high_i32x4_s (local.get $keep_a))))
        (local.set $mask_b (i64x2.neg (i64x2.extend_high_i32x4_s (local.get $keep_b))))
        (local.set $high
          (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vbase) (local.get $vbase)))
            (f64x2.mul (local.get $vl)
              (f64x2.mul
                (f64x2.add
                  (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_a) (local.get $keep_a)))
                    (f64x2.mul (local.get $vw1) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $u) (local.get $u)))))
                  (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_b) (local.get $keep_b)))
                    (f64x2.mul (local.get $vw2) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))))
                ;; reciprocal[keepA·2 + keepB]
                (v128.bitselect
                  (v128.bitselect (local.get $vr3) (local.get $vr2) (local.get $mask_b))
                  (v128.bitselect (local.get $vr1) (local.get $vr0) (local.get $mask_b))
                  (local.get $mask_a))))))
        (local.set $merged
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $low)) (f32x4.demote_f64x2_zero (local.get $high))))
        (v128.store align=4 (i32.add (local.get $base) (local.get $i)) (local.get $merged))
        (local.set $check (f32x4.add (local.get $check) (f32x4.sub (local.get $merged) (local.get $merged))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $uu (i32.load (i32.add (local.get $first) (local.get $i))))
        (local.set $vv (i32.load (i32.add (local.get $second) (local.get $i))))
        (local.set $uu (i32.and (local.get $uu)
          (i32.shr_s (i32.sub (local.get $first_below) (i32.and (local.get $uu) (i32.const 0x7fffffff))) (i32.const 31))))
        (local.set $vv (i32.and (local.get $vv)
          (i32.shr_s (i32.sub (local.get $second_below) (i32.and (local.get $vv) (i32.const 0x7fffffff))) (i32.const 31))))
        (i32.store (i32.add (local.get $first) (local.get $i)) (local.get $uu))
        (i32.store (i32.add (local.get $second) (local.get $i)) (local.get $vv))
        (local.set $sa (i32.xor (i32.shr_u (local.get $uu) (i32.const 31)) (local.get $first_sign)))
        (local.set $sb2 (i32.xor (i32.shr_u (local.get $vv) (i32.const 31)) (local.get $second_sign)))
        (local.set $ma (i32.and (local.get $uu) (i32.const 0x7fffffff)))
        (local.set $mb (i32.and (local.get $vv) (i32.const 0x7fffffff)))
        (local.set $maj
          (i32.or
            (i32.or (i32.and (local.get $sa) (local.get $sb2))
              (i32.and (i32.shr_u (i32.sub (local.get $mb) (local.get $ma)) (i32.const 31)) (local.get $sa)))
            (i32.and (i32.shr_u (i32.sub (local.get $ma) (local.get $mb)) (i32.const 31)) (local.get $sb2))))
        (local.set $ka (i32.sub (i32.const 1)
          (i32.or (i32.xor (local.get $sa) (local.get $maj)) (i32.shr_u (i32.sub (local.get $ma) (i32.const 1)) (i32.const 31)))))
        (local.set $kb (i32.sub (i32.const 1)
          (i32.or (i32.xor (local.get $sb2) (local.get $maj)) (i32.shr_u (i32.sub (local.get $mb) (i32.const 1)) (i32.const 31)))))
        (local.set $code (i32.or (i32.shl (local.get $ka) (i32.const 1)) (local.get $kb)))
        (local.set $value
          (f64.mul
            (f64.add
              (f64.mul (f64.convert_i32_s (local.get $ka))
                (f64.mul (local.get $w1) (f64.promote_f32 (f32.reinterpret_i32 (local.get $uu)))))
              (f64.mul (f64.convert_i32_s (local.get $kb))
                (f64.mul (local.get $w2) (f64.promote_f32 (f32.reinterpret_i32 (local.get $vv))))))
            (select (select (local.get $r3) (local.get $r2) (local.get $kb))
                    (select (local.get $r1) (local.get $r0) (local.get $kb))
                    (local.get $ka))))
        (local.set $scalar
          (f32.demote_f64
            (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $base) (local.get $i))))
              (f64.mul (local.get $lambda) (local.get $value)))))
        (f32.store (i32.add (local.get $base) (local.get $i)) (local.get $scalar))
        (local.set $scalar_check (f32.add (local.get $scalar_check) (f32.sub (local.get $scalar) (local.get $scalar))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (i32.xor
      (i32.and
        (i32x4.all_true (f32x4.eq (local.get $check) (v128.const f32x4 0 0 0 0)))
        (f32.eq (local.get $scalar_check) (f32.const 0)))
      (i32.const 1)))

;; ---- SCE, two models ----------------------------------------------------------------------------

  ;; SceFirstPass.advance (sce-two.ts) with a variance, over byte range [start, end): deltas in
  ;; place, both float64 sums of the unrounded squared differences in index order (at `sums`),
  ;; the float32 population variance of the two rounded deltas into `variance`, its sign-cleared
  ;; high 16 bits counted in `counts` (4 × 65536 u32, lane j in table j). Returns how many
  ;; variances are non-zero.
  (func (export "sce_first_pass")
    (param $first i32) (param $second i32) (param $base i32) (param $variance i32) (param $counts i32)
    (param $start i32) (param $end i32) (param $sums i32)
    (result i32)
    (local $i i32) (local $vector_end i32) (local $first_sum f64) (local $second_sum f64)
    (local $vb v128) (local $va v128) (local $vs v128)
    (local $vd_low v128) (local $vd_high v128) (local $ve_low v128) (local $ve_high v128)
    (local $sd_low v128) (local $sd_high v128) (local $se_low v128) (local $se_high v128)
    (local $fa v128) (local $fb v128) (local $pa v128) (local $pb v128) (local $mean v128) (local $half v128)
    (local $var_low v128) (local $var_high v128) (local $var v128) (local $score v128) (local $nonzero v128)
    (local $at i32) (local $b f64) (local $x f64) (local $y f64) (local $sa f64) (local $sb f64) (local $m f64)
    (local $scalar_var f32) (local $word i32) (local $count i32)
    (local.set $half (f64x2.splat (f64.const 0.5)))
    (local.set $first_sum (f64.load (local.get $sums)))
    (local.set $second_sum (f64.load offset=8 (local.get $sums)))
    (local.set $i (local.get $start))
    (local.set $vector_end
      (i32.add (local.get $start) (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const -16))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_end)))
        (local.set $vb (v128.load align=4 (i32.add (local.get $base) (local.get $i))))
        (local.set $va (v128.load align=4 (i32.add (local.get $first) (local.get $i))))
        (local.set $vs (v128.load align=4 (i32.add (local.get $second) (local.get $i))))
        (local.set $vd_low (f64x2.sub (f64x2.promote_low_f32x4 (local.get $va)) (f64x2.promote_low_f32x4 (local.get $vb))))
        (local.set $vd_high (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb)))))
        (local.set $ve_low (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vs)) (f64x2.promote_low_f32x4 (local.get $vb))))
        (local.set $ve_high (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vs) (local.get $vs))) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb)))))
        (local.set $sd_low (f64x2.mul (local.get $vd_low) (local.get $vd_low)))
        (local.set $sd_high (f64x2.mul (local.get $vd_high) (local.get $vd_high)))
        (local.set $se_low (f64x2.mul (local.get $ve_low) (local.get $ve_low)))
        (local.set $se_high (f64x2.mul (local.get $ve_high) (local.get $ve_high)))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 0 (local.get $sd_low))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 0 (local.get $se_low))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 1 (local.get $sd_low))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 1 (local.get $se_low))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 0 (local.get $sd_high))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 0 (local.get $se_high))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64x2.extract_lane 1 (local.get $sd_high))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64x2.extract_lane 1 (local.get $se_high))))
        (local.set $fa (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $vd_low)) (f32x4.demote_f64x2_zero (local.get $vd_high))))
        (local.set $fb (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $ve_low)) (f32x4.demote_f64x2_zero (local.get $ve_high))))
        (v128.store align=4 (i32.add (local.get $first) (local.get $i)) (local.get $fa))
        (v128.store align=4 (i32.add (local.get $second) (local.get $i)) (local.get $fb))
        (local.set $pa (f64x2.promote_low_f32x4 (local.get $fa)))
        (local.set $pb (f64x2.promote_low_f32x4 (local.get $fb)))
        ;; mean = (a + b) / 2 and the variance's final / 2 as · 0.5: the same correctly rounded value.
        (local.set $mean (f64x2.mul (f64x2.add (local.get $pa) (local.get $pb)) (local.get $half)))
        (local.set $var_low
          (f64x2.mul
            (f64x2.add
              (f64x2.mul (f64x2.sub (local.get $pa) (local.get $mean)) (f64x2.sub (local.get $pa) (local.get $mean)))
              (f64x2.mul (f64x2.sub (local.get $pb) (local.get $mean)) (f64x2.sub (local.get $pb) (local.get $mean))))
            (local.get $half)))
        (local.set $pa (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $fa) (local.get $fa))))
        (local.set $pb (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $fb) (local.get $fb))))
        ;; mean = (a + b) / 2 and the variance's final / 2 as · 0.5: the same correctly rounded value.
        (local.set $mean (f64x2.mul (f64x2.add (local.get $pa) (local.get $pb)) (local.get $half)))
        (local.set $var_high
          (f64x2.mul
            (f64x2.add
              (f64x2.mul (f64x2.sub (local.get $pa) (local.get $mean)) (f64x2.sub (local.get $pa) (local.get $mean)))
              (f64x2.mul (f64x2.sub (local.get $pb) (local.get $mean)) (f64x2.sub (local.get $pb) (local.get $mean))))
            (local.get $half)))
        (local.set $var (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $var_low)) (f32x4.demote_f64x2_zero (local.get $var_high))))
        (v128.store align=4 (i32.add (local.get $variance) (local.get $i)) (local.get $var))
        (local.set $score (v128.and (local.get $var) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        ;; i32x4.ne is −1 per non-zero lane.
        (local.set $nonzero (i32x4.sub (local.get $nonzero) (i32x4.ne (local.get $score) (v128.const i32x4 0 0 0 0))))
        (local.set $score
          (i32x4.add (i32x4.shl (i32x4.shr_u (local.get $score) (i32.const 16)) (i32.const 2))
            (v128.const i32x4 0 262144 524288 786432)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 0 (local.get $score))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 1 (local.get $score))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 2 (local.get $score))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $at (i32.add (local.get $counts) (i32x4.extract_lane 3 (local.get $score))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (f64.promote_f32 (f32.load (i32.add (local.get $base) (local.get $i)))))
        (local.set $x (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $first) (local.get $i)))) (local.get $b)))
        (local.set $y (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $second) (local.get $i)))) (local.get $b)))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64.mul (local.get $x) (local.get $x))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64.mul (local.get $y) (local.get $y))))
        (local.set $sa (f64.promote_f32 (f32.demote_f64 (local.get $x))))
        (local.set $sb (f64.promote_f32 (f32.demote_f64 (local.get $y))))
        (f32.store (i32.add (local.get $first) (local.get $i)) (f32.demote_f64 (local.get $sa)))
        (f32.store (i32.add (local.get $second) (local.get $i)) (f32.demote_f64 (local.get $sb)))
        (local.set $m (f64.mul (f64.add (local.get $sa) (local.get $sb)) (f64.const 0.5)))
        (local.set $scalar_var
          (f32.demote_f64
            (f64.mul
              (f64.add
                (f64.mul (f64.sub (local.get $sa) (local.get $m)) (f64.sub (local.get $sa) (local.get $m)))
                (f64.mul (f64.sub (local.get $sb) (local.get $m)) (f64.sub (local.get $sb) (local.get $m))))
              (f64.const 0.5))))
        (f32.store (i32.add (local.get $variance) (local.get $i)) (local.get $scalar_var))
        (local.set $word (i32.and (i32.reinterpret_f32 (local.get $scalar_var)) (i32.const 0x7fffffff)))
        (local.set $count (i32.add (local.get $count) (i32.ne (local.get $word) (i32.const 0))))
        (local.set $at (i32.add (local.get $counts) (i32.shl (i32.shr_u (local.get $word) (i32.const 16)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (f64.store (local.get $sums) (local.get $first_sum))
    (f64.store offset=8 (local.get $sums) (local.get $second_sum))
    (i32.add (local.get $count)
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $nonzero)) (i32x4.extract_lane 1 (local.get $nonzero)))
        (i32.add (i32x4.extract_lane 2 (local.get $nonzero)) (i32x4.extract_lane 3 (local.get $nonzero))))))

  ;; selectedSquares (sce.ts) over byte range [start, end): adds (selected · δ) · δ of both
  ;; models to the float64 sums at `sums`, in index order; selected = (below − score) >>> 31.
  (func (export "sce_selected_squares")
    (param $first i32) (param $second i32) (param $scores i32) (param $start i32) (param $end i32)
    (param $below i32) (param $sums i32)
    (local $i i32) (local $first_sum f64) (local $second_sum f64) (local $selected f64) (local $a f64) (local $b f64)
    (local.set $first_sum (f64.load (local.get $sums)))
    (local.set $second_sum (f64.load offset=8 (local.get $sums)))
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $selected
          (f64.convert_i32_s
            (i32.shr_u
              (i32.sub (local.get $below) (i32.and (i32.load (i32.add (local.get $scores) (local.get $i))) (i32.const 0x7fffffff)))
              (i32.const 31))))
        (local.set $a (f64.promote_f32 (f32.load (i32.add (local.get $first) (local.get $i)))))
        (local.set $b (f64.promote_f32 (f32.load (i32.add (local.get $second) (local.get $i)))))
        (local.set $first_sum (f64.add (local.get $first_sum) (f64.mul (f64.mul (local.get $selected) (local.get $a)) (local.get $a))))
        (local.set $second_sum (f64.add (local.get $second_sum) (f64.mul (f64.mul (local.get $selected) (local.get $b)) (local.get $b))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (f64.store (local.get $sums) (local.get $first_sum))
    (f64.store offset=8 (local.get $sums) (local.get $second_sum)))

  ;; eraseAndMixRange (sce.ts) over byte range [start, end), into out: selected elements (score
  ;; above `below`) keep the deltas agreeing with the majority sign (from the magnitude bits),
  ;; value = Σ kept wj δj / (Σ kept wj, 1 when none), 0 when that is not finite. Returns 1 when a
  ;; merged value is not finite, else 0.
  (func (export "sce_erase_mix")
    (param $out i32) (param $first i32) (param $second i32) (param $scores i32) (param $start i32) (param $end i32)
    (param $below i32) (param $w1 f64) (param $w2 f64)
    (result i32)
    (local $i i32) (local $vector_end i32)
    (local $clear v128) (local $one v128) (local $vbelow v128) (local $vw1 v128) (local $vw2 v128)
    (local $u v128) (local $v v128) (local $selected v128) (local $sign_a v128) (local $sign_b v128)
    (local $mag_a v128) (local $mag_b v128) (local $majority v128) (local $keep_a v128) (local $keep_b v128)
    (local $vout v128) (local $low v128) (local $high v128) (local $merged v128) (local $check v128)
    (local $fs v128) (local $fa v128) (local $fb v128) (local $mixed v128) (local $value v128)
    (local $sel i32) (local $uu i32) (local $vv i32) (local $sa i32) (local $sb i32) (local $ma i32) (local $mb i32)
    (local $maj i32) (local $ka i32) (local $kb i32) (local $x f64) (local $y f64) (local $mix f64) (local $val f64)
    (local $scalar f32) (local $scalar_check f32)
    (local.set $clear (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $vbelow (i32x4.splat (local.get $below)))
    (local.set $vw1 (f64x2.splat (local.get $w1)))
    (local.set $vw2 (f64x2.splat (local.get $w2)))
    (local.set $i (local.get $start))
    (local.set $vector_end
      (i32.add (local.get $start) (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const -16))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $vector_end)))
        (local.set $selected
          (i32x4.shr_u
            (i32x4.sub (local.get $vbelow)
              (v128.and (v128.load align=4 (i32.add (local.get $scores) (local.get $i))) (local.get $clear)))
            (i32.const 31)))
        (local.set $u (v128.load align=4 (i32.add (local.get $first) (local.get $i))))
        (local.set $v (v128.load align=4 (i32.add (local.get $second) (local.get $i))))
        (local.set $sign_a (i32x4.shr_u (local.get $u) (i32.const 31)))
        (local.set $sign_b (i32x4.shr_u (local.get $v) (i32.const 31)))
        (local.set $mag_a (v128.and (local.get $u) (local.get $clear)))
        (local.set $mag_b (v128.and (local.get $v) (local.get $clear)))
        (local.set $majority
          (v128.or
            (v128.or
              (v128.and (local.get $sign_a) (local.get $sign_b))
              (v128.and (i32x4.shr_u (i32x4.sub (local.get $mag_b) (local.get $mag_a)) (i32.const 31)) (local.get $sign_a)))
            (v128.and (i32x4.shr_u (i32x4.sub (local.get $mag_a) (local.get $mag_b)) (i32.const 31)) (local.get $sign_b))))
        (local.set $keep_a (v128.and (local.get $selected) (i32x4.sub (local.get $one)
          (v128.or (v128.xor (local.get $sign_a) (local.get $majority))
            (i32x4.shr_u (i32x4.sub (local.get $mag_a) (local.get $one)) (i32.const 31))))))
        (local.set $keep_b (v128.and (local.get $selected) (i32x4.sub (local.get $one)
          (v128.or (v128.xor (local.get $sign_b) (local.get $majority))
            (i32x4.shr_u (i32x4.sub (local.get $mag_b) (local.get $one)) (i32.const 31))))))
        (local.set $vout (v128.load align=4 (i32.add (local.get $out) (local.get $i))))
        
        (local.set $fs (f64x2.convert_low_i32x4_s (local.get $selected)))
        (local.set $fa (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $keep_a)) (local.get $vw1)))
        (local.set $fb (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $keep_b)) (local.get $vw2)))
        ;; (keepA·w1)·(selected·a) + (keepB·w2)·(selected·b)
        (local.set $mixed
          (f64x2.add
            (f64x2.mul (local.get $fa) (f64x2.mul (local.get $fs) (f64x2.promote_low_f32x4 (local.get $u))))
            (f64x2.mul (local.get $fb) (f64x2.mul (local.get $fs) (f64x2.promote_low_f32x4 (local.get $v))))))
        (local.set $value
          (f64x2.div (local.get $mixed)
            (f64x2.add (f64x2.add (local.get $fa) (local.get $fb))
              (f64x2.convert_low_i32x4_s
                (i32x4.shr_u (i32x4.sub (i32x4.add (local.get $keep_a) (local.get $keep_b)) (local.get $one)) (i32.const 31))))))
        ;; not finite → 0
        (local.set $value
          (v128.and (local.get $value) (f64x2.eq (f64x2.sub (local.get $value) (local.get $value)) (f64x2.splat (f64.const 0)))))
        (local.set $low (f64x2.add (f64x2.promote_low_f32x4 (local.get $vout)) (local.get $value)))
        (local.set $fs (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $selected) (local.get $selected))))
        (local.set $fa (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_a) (local.get $keep_a))) (local.get $vw1)))
        (local.set $fb (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_b) (local.get $keep_b))) (local.get $vw2)))
        ;; (keepA·w1)·(selected·a) + (keepB·w2)·(selected·b)
        (local.set $mixed
          (f64x2.add
            (f64x2.mul (local.get $fa) (f64x2.mul (local.get $fs) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $u) (local.get $u)))))
            (f64x2.mul (local.get $fb) (f64x2.mul (local.get $fs) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))))
        (local.set $value
          (f64x2.div (local.get $mixed)
            (f64x2.add (f64x2.add (local.get $fa) (local.get $fb))
              (f64x2.convert_low_i32x4_s
                (i32x4.shr_u (i32x4.sub (i32x4.add (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_a) (local.get $keep_a)) (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $keep_b) (local.get $keep_b))) (local.get $one)) (i32.const 31))))))
        ;; not finite → 0
        (local.set $value
          (v128.and (local.get $value) (f64x2.eq (f64x2.sub (local.get $value) (local.get $value)) (f64x2.splat (f64.const 0)))))
        (local.set $high (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vout) (local.get $vout))) (local.get $value)))
        (local.set $merged (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $low)) (f32x4.demote_f64x2_zero (local.get $high))))
        (v128.store align=4 (i32.add (local.get $out) (local.get $i)) (local.get $merged))
        (local.set $check (f32x4.add (local.get $check) (f32x4.sub (local.get $merged) (local.get $merged))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $sel
          (i32.shr_u
            (i32.sub (local.get $below) (i32.and (i32.load (i32.add (local.get $scores) (local.get $i))) (i32.const 0x7fffffff)))
            (i32.const 31)))
        (local.set $uu (i32.load (i32.add (local.get $first) (local.get $i))))
        (local.set $vv (i32.load (i32.add (local.get $second) (local.get $i))))
        (local.set $sa (i32.shr_u (local.get $uu) (i32.const 31)))
        (local.set $sb (i32.shr_u (local.get $vv) (i32.const 31)))
        (local.set $ma (i32.and (local.get $uu) (i32.const 0x7fffffff)))
        (local.set $mb (i32.and (local.get $vv) (i32.const 0x7fffffff)))
        (local.set $maj
          (i32.or
            (i32.or (i32.and (local.get $sa) (local.get $sb))
              (i32.and (i32.shr_u (i32.sub (local.get $mb) (local.get $ma)) (i32.const 31)) (local.get $sa)))
            (i32.and (i32.shr_u (i32.sub (local.get $ma) (local.get $mb)) (i32.const 31)) (local.get $sb))))
        (local.set $ka (i32.and (local.get $sel) (i32.sub (i32.const 1)
          (i32.or (i32.xor (local.get $sa) (local.get $maj)) (i32.shr_u (i32.sub (local.get $ma) (i32.const 1)) (i32.const 31))))))
        (local.set $kb (i32.and (local.get $sel) (i32.sub (i32.const 1)
          (i32.or (i32.xor (local.get $sb) (local.get $maj)) (i32.shr_u (i32.sub (local.get $mb) (i32.const 1)) (i32.const 31))))))
        (local.set $x (f64.mul (f64.convert_i32_s (local.get $sel)) (f64.promote_f32 (f32.reinterpret_i32 (local.get $uu)))))
        (local.set $y (f64.mul (f64.convert_i32_s (local.get $sel)) (f64.promote_f32 (f32.reinterpret_i32 (local.get $vv)))))
        (local.set $mix
          (f64.add
            (f64.mul (f64.mul (f64.convert_i32_s (local.get $ka)) (local.get $w1)) (local.get $x))
            (f64.mul (f64.mul (f64.convert_i32_s (local.get $kb)) (local.get $w2)) (local.get $y))))
        (local.set $val
          (f64.div (local.get $mix)
            (f64.add
              (f64.add (f64.mul (f64.convert_i32_s (local.get $ka)) (local.get $w1)) (f64.mul (f64.convert_i32_s (local.get $kb)) (local.get $w2)))
              (f64.convert_i32_s (i32.shr_u (i32.sub (i32.add (local.get $ka) (local.get $kb)) (i32.const 1)) (i32.const 31))))))
        (if (f64.ne (f64.sub (local.get $val) (local.get $val)) (f64.const 0)) (then (local.set $val (f64.const 0))))
        (local.set $scalar (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $out) (local.get $i)))) (local.get $val))))
        (f32.store (i32.add (local.get $out) (local.get $i)) (local.get $scalar))
        (local.set $scalar_check (f32.add (local.get $scalar_check) (f32.sub (local.get $scalar) (local.get $scalar))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
    (i32.xor
      (i32.and
        (i32x4.all_true (f32x4.eq (local.get $check) (v128.const f32x4 0 0 0 0)))
        (f32.eq (local.get $scalar_check) (f32.const 0)))
      (i32.const 1)))
)
