;; Memory-movement kernels for the tfjs wasm backend, run on the backend's own wasm memory.
;;
;; Compiled by scripts/build-simd-kernels.mjs into simdKernelsWasm.ts (twice: importing an
;; unshared memory, as the single-threaded tfjs build has, and a shared one, as the threaded build
;; has). The module owns no memory of its own (no data, no stack): every address is a byte offset
;; into tfjs's heap, given by the caller (tensors' memoryOffset), and float data are f32.
(module
  (import "env" "memory" (memory 1))

  ;; Copies `rows` blocks of `len` bytes (a multiple of 4): block r goes from src + r*ss to
  ;; dst + r*ds. 16 bytes at a time, then 4.
  (func (export "copy_blocks")
    (param $src i32) (param $ss i32) (param $dst i32) (param $ds i32) (param $rows i32) (param $len i32)
    (local $j i32) (local $len16 i32)
    (local.set $len16 (i32.and (local.get $len) (i32.const -16)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $vdone
          (loop $v
            (br_if $vdone (i32.ge_u (local.get $j) (local.get $len16)))
            (v128.store (i32.add (local.get $dst) (local.get $j))
              (v128.load (i32.add (local.get $src) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $v)))
        (block $sdone
          (loop $s
            (br_if $sdone (i32.ge_u (local.get $j) (local.get $len)))
            (f32.store (i32.add (local.get $dst) (local.get $j))
              (f32.load (i32.add (local.get $src) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $s)))
        (local.set $src (i32.add (local.get $src) (local.get $ss)))
        (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; Strided 2-D gather of f32: dst[r*ds + 4j] = src[r*ss + j*cs] for r < rows, j < n (strides in
  ;; bytes).
  (func (export "gather")
    (param $src i32) (param $ss i32) (param $cs i32) (param $dst i32) (param $ds i32) (param $rows i32) (param $n i32)
    (local $s i32) (local $d i32) (local $end i32)
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $rows)))
        (local.set $s (local.get $src))
        (local.set $d (local.get $dst))
        (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
        (block $rdone
          (loop $next
            (br_if $rdone (i32.ge_u (local.get $d) (local.get $end)))
            (f32.store (local.get $d) (f32.load (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $cs)))
            (local.set $d (i32.add (local.get $d) (i32.const 4)))
            (br $next)))
        (local.set $src (i32.add (local.get $src) (local.get $ss)))
        (local.set $dst (i32.add (local.get $dst) (local.get $ds)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; Channel planes from pixels: src holds n pixels of c channels (row-major [n, c]); channel k of
  ;; pixel i goes to dst + k*plane + 4i (plane in bytes). 4×4 blocks are transposed in registers.
  (func (export "to_planes")
    (param $src i32) (param $n i32) (param $c i32) (param $dst i32) (param $plane i32)
    (local $k i32) (local $i i32) (local $c4 i32) (local $n4 i32) (local $rs i32)
    (local $s i32) (local $d i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $rs (i32.shl (local.get $c) (i32.const 2))) ;; bytes per pixel
    ;; channels in groups of 4
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $c4)))
        ;; pixels in groups of 4: a 4×4 transpose
        (local.set $i (i32.const 0))
        (block $idone
          (loop $iloop
            (br_if $idone (i32.ge_u (local.get $i) (local.get $n4)))
            (local.set $s (i32.add (local.get $src)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $c)) (local.get $k)) (i32.const 2))))
            (local.set $r0 (v128.load (local.get $s)))
            (local.set $r1 (v128.load (i32.add (local.get $s) (local.get $rs))))
            (local.set $r2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $rs) (i32.const 1)))))
            (local.set $r3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $rs) (i32.const 3)))))
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
            (local.set $d (i32.add (i32.add (local.get $dst) (i32.mul (local.get $k) (local.get $plane)))
              (i32.shl (local.get $i) (i32.const 2))))
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (local.set $d (i32.add (local.get $d) (local.get $plane)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (local.set $d (i32.add (local.get $d) (local.get $plane)))
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (local.set $d (i32.add (local.get $d) (local.get $plane)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $iloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $kloop)))
    ;; the rest, one element at a time: pixels n4.. for channels < c4, then channels c4.. for all pixels
    (call $planes_scalar (local.get $src) (local.get $n4) (local.get $n) (i32.const 0) (local.get $c4)
      (local.get $c) (local.get $dst) (local.get $plane))
    (call $planes_scalar (local.get $src) (i32.const 0) (local.get $n) (local.get $c4) (local.get $c)
      (local.get $c) (local.get $dst) (local.get $plane)))

  ;; to_planes for pixels [i0, i1) and channels [k0, k1), one element at a time.
  (func $planes_scalar
    (param $src i32) (param $i0 i32) (param $i1 i32) (param $k0 i32) (param $k1 i32) (param $c i32)
    (param $dst i32) (param $plane i32)
    (local $i i32) (local $k i32)
    (local.set $k (local.get $k0))
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $k1)))
        (local.set $i (local.get $i0))
        (block $idone
          (loop $iloop
            (br_if $idone (i32.ge_u (local.get $i) (local.get $i1)))
            (f32.store
              (i32.add (i32.add (local.get $dst) (i32.mul (local.get $k) (local.get $plane))) (i32.shl (local.get $i) (i32.const 2)))
              (f32.load (i32.add (local.get $src)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $c)) (local.get $k)) (i32.const 2)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $iloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kloop))))

  ;; dx[w] += v (f32; w an element index from dx's start).
  (func $add_at (param $dx i32) (param $w i32) (param $v f32)
    (local $a i32)
    (local.set $a (i32.add (local.get $dx) (i32.shl (local.get $w) (i32.const 2))))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (local.get $v))))

  ;; Max-pool gradient, NHWC, f32: for each output pixel and channel, dy goes to the first maximum
  ;; of its window in row-major order (as on the cpu backend); overlapping windows add up. dx is
  ;; zeroed first. Channels 4 at a time (running maxima and their indices in lanes), then the rest.
  (func (export "max_pool_grad")
    (param $x i32) (param $dy i32) (param $dx i32)
    (param $batch i32) (param $h i32) (param $wd i32) (param $c i32) (param $oh i32) (param $ow i32)
    (param $fh i32) (param $fw i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $b i32) (local $oy i32) (local $ox i32) (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32)
    (local $y i32) (local $xx i32) (local $k i32) (local $c4 i32) (local $o i32) (local $base i32) (local $w i32)
    (local $v v128) (local $best v128) (local $where v128) (local $m v128) (local $lane v128)
    (local $sv f32) (local $sbest f32) (local $swhere i32)
    (memory.fill (local.get $dx) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (i32.mul (local.get $batch) (local.get $h)) (local.get $wd)) (local.get $c)) (i32.const 2)))
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $lane (v128.const i32x4 0 1 2 3))
    (local.set $b (i32.const 0))
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $oy (i32.const 0))
      (block $oydone (loop $oyloop
        (br_if $oydone (i32.ge_u (local.get $oy) (local.get $oh)))
        (local.set $y0 (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)))
        (local.set $y1 (i32.add (local.get $y0) (local.get $fh)))
        (if (i32.lt_s (local.get $y0) (i32.const 0)) (then (local.set $y0 (i32.const 0))))
        (if (i32.gt_s (local.get $y1) (local.get $h)) (then (local.set $y1 (local.get $h))))
        (local.set $ox (i32.const 0))
        (block $oxdone (loop $oxloop
          (br_if $oxdone (i32.ge_u (local.get $ox) (local.get $ow)))
          (local.set $x0 (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)))
          (local.set $x1 (i32.add (local.get $x0) (local.get $fw)))
          (if (i32.lt_s (local.get $x0) (i32.const 0)) (then (local.set $x0 (i32.const 0))))
          (if (i32.gt_s (local.get $x1) (local.get $wd)) (then (local.set $x1 (local.get $wd))))
          ;; element index of (b, oy, ox, channel 0) in dy
          (local.set $o (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $oy)) (local.get $ow)) (local.get $ox)) (local.get $c)))
          ;; channels in groups of 4
          (local.set $k (i32.const 0))
          (block $kdone (loop $kloop
            (br_if $kdone (i32.ge_u (local.get $k) (local.get $c4)))
            (local.set $best (f32x4.splat (f32.const -inf)))
            (local.set $where (i32x4.splat (i32.const -1)))
            (local.set $y (local.get $y0))
            (block $ydone (loop $yloop
              (br_if $ydone (i32.ge_s (local.get $y) (local.get $y1)))
              (local.set $xx (local.get $x0))
              (block $xdone (loop $xloop
                (br_if $xdone (i32.ge_s (local.get $xx) (local.get $x1)))
                (local.set $base (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $wd)) (local.get $xx)) (local.get $c)) (local.get $k)))
                (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $base) (i32.const 2)))))
                (local.set $m (f32x4.gt (local.get $v) (local.get $best)))
                (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
                (local.set $where (v128.bitselect (i32x4.add (i32x4.splat (local.get $base)) (local.get $lane)) (local.get $where) (local.get $m)))
                (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
                (br $xloop)))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yloop)))
            (local.set $o (i32.add (local.get $o) (local.get $k)))
                (local.set $w (i32x4.extract_lane 0 (local.get $where)))
                (if (i32.ge_s (local.get $w) (i32.const 0))
                  (then (call $add_at (local.get $dx) (local.get $w)
                    (f32.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $o) (i32.const 0)) (i32.const 2)))))))
                (local.set $w (i32x4.extract_lane 1 (local.get $where)))
                (if (i32.ge_s (local.get $w) (i32.const 0))
                  (then (call $add_at (local.get $dx) (local.get $w)
                    (f32.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $o) (i32.const 1)) (i32.const 2)))))))
                (local.set $w (i32x4.extract_lane 2 (local.get $where)))
                (if (i32.ge_s (local.get $w) (i32.const 0))
                  (then (call $add_at (local.get $dx) (local.get $w)
                    (f32.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $o) (i32.const 2)) (i32.const 2)))))))
                (local.set $w (i32x4.extract_lane 3 (local.get $where)))
                (if (i32.ge_s (local.get $w) (i32.const 0))
                  (then (call $add_at (local.get $dx) (local.get $w)
                    (f32.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $o) (i32.const 3)) (i32.const 2)))))))
            (local.set $o (i32.sub (local.get $o) (local.get $k)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $kloop)))
          ;; remaining channels one at a time
          (block $kdone2 (loop $kloop2
            (br_if $kdone2 (i32.ge_u (local.get $k) (local.get $c)))
            (local.set $sbest (f32.const -inf))
            (local.set $swhere (i32.const -1))
            (local.set $y (local.get $y0))
            (block $ydone2 (loop $yloop2
              (br_if $ydone2 (i32.ge_s (local.get $y) (local.get $y1)))
              (local.set $xx (local.get $x0))
              (block $xdone2 (loop $xloop2
                (br_if $xdone2 (i32.ge_s (local.get $xx) (local.get $x1)))
                (local.set $base (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $wd)) (local.get $xx)) (local.get $c)) (local.get $k)))
                (local.set $sv (f32.load (i32.add (local.get $x) (i32.shl (local.get $base) (i32.const 2)))))
                (if (f32.gt (local.get $sv) (local.get $sbest))
                  (then (local.set $sbest (local.get $sv)) (local.set $swhere (local.get $base))))
                (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
                (br $xloop2)))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yloop2)))
            (if (i32.ge_s (local.get $swhere) (i32.const 0))
              (then (call $add_at (local.get $dx) (local.get $swhere)
                (f32.load (i32.add (local.get $dy) (i32.shl (i32.add (local.get $o) (local.get $k)) (i32.const 2)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kloop2)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $oxloop)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $oyloop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop)))
  )
)
