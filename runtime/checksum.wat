;; kiln32: the checksum of the weights pieces and of the manifest (runtime/checksum.ts holds this
;; module assembled; test/integrity.test.ts checks the bytes against this text and the function
;; against a plain JavaScript statement of it). xxHash32's round on 16 lanes: four i32x4
;; accumulators take 64 bytes a step, so the multiply latency of one chain is hidden by the other
;; three and a piece hashes at memory speed. Every step is a bijection of one lane given the data,
;; so any difference confined to one lane always changes the result.
;;
;;   acc[k] = seed + (k+1)*P1                               k = 0..15
;;   each 64 bytes:   acc[k] = rotl(acc[k] + u32[k]*P2, 13) * P1
;;   each 16 bytes left: the same for k = 0..3
;;   h = seed + length + P5; for k = 0..15: h = rotl(h + acc[k]*P3, 17) * P4
;;   each 4 bytes left: h = rotl(h + u32*P3, 17) * P4; each byte left: h = rotl(h + byte*P5, 11) * P1
;;   h ^= h >> 15; h *= P2; h ^= h >> 13; h *= P3; h ^= h >> 16
;;
;; It reads the memory it is given (the model's, imported) and writes nothing.
(module
  (import "env" "memory" (memory 0))
  (func $hash (export "hash") (param $p i32) (param $n i32) (param $seed i32) (result i32)
    (local $end i32) (local $h i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t v128)
    (local $p1 v128) (local $p2 v128) (local $s v128)
    (local.set $p1 (v128.const i32x4 0x9e3779b1 0x9e3779b1 0x9e3779b1 0x9e3779b1))
    (local.set $p2 (v128.const i32x4 0x85ebca77 0x85ebca77 0x85ebca77 0x85ebca77))
    (local.set $s (i32x4.splat (local.get $seed)))
    (local.set $a0 (i32x4.add (local.get $s) (v128.const i32x4 0x9e3779b1 0x3c6ef362 0xdaa66d13 0x78dde6c4)))
    (local.set $a1 (i32x4.add (local.get $s) (v128.const i32x4 0x17156075 0xb54cda26 0x538453d7 0xf1bbcd88)))
    (local.set $a2 (i32x4.add (local.get $s) (v128.const i32x4 0x8ff34739 0x2e2ac0ea 0xcc623a9b 0x6a99b44c)))
    (local.set $a3 (i32x4.add (local.get $s) (v128.const i32x4 0x08d12dfd 0xa708a7ae 0x4540215f 0xe3779b10)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    ;; 64 bytes a step
    (block $done64
      (loop $step64
        (br_if $done64 (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 64)))
        (local.set $t (i32x4.add (local.get $a0) (i32x4.mul (v128.load offset=0 align=1 (local.get $p)) (local.get $p2))))
        (local.set $a0 (i32x4.mul (v128.or (i32x4.shl (local.get $t) (i32.const 13)) (i32x4.shr_u (local.get $t) (i32.const 19))) (local.get $p1)))
        (local.set $t (i32x4.add (local.get $a1) (i32x4.mul (v128.load offset=16 align=1 (local.get $p)) (local.get $p2))))
        (local.set $a1 (i32x4.mul (v128.or (i32x4.shl (local.get $t) (i32.const 13)) (i32x4.shr_u (local.get $t) (i32.const 19))) (local.get $p1)))
        (local.set $t (i32x4.add (local.get $a2) (i32x4.mul (v128.load offset=32 align=1 (local.get $p)) (local.get $p2))))
        (local.set $a2 (i32x4.mul (v128.or (i32x4.shl (local.get $t) (i32.const 13)) (i32x4.shr_u (local.get $t) (i32.const 19))) (local.get $p1)))
        (local.set $t (i32x4.add (local.get $a3) (i32x4.mul (v128.load offset=48 align=1 (local.get $p)) (local.get $p2))))
        (local.set $a3 (i32x4.mul (v128.or (i32x4.shl (local.get $t) (i32.const 13)) (i32x4.shr_u (local.get $t) (i32.const 19))) (local.get $p1)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $step64)))
    ;; 16 bytes a step, into the first accumulator
    (block $done16
      (loop $step16
        (br_if $done16 (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16)))
        (local.set $t (i32x4.add (local.get $a0) (i32x4.mul (v128.load align=1 (local.get $p)) (local.get $p2))))
        (local.set $a0 (i32x4.mul (v128.or (i32x4.shl (local.get $t) (i32.const 13)) (i32x4.shr_u (local.get $t) (i32.const 19))) (local.get $p1)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $step16)))
    ;; the 16 lanes into one word, in order
    (local.set $h (i32.add (i32.add (local.get $seed) (local.get $n)) (i32.const 0x165667b1)))
    (local.set $t (i32x4.mul (local.get $a0) (v128.const i32x4 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 0 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 1 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 2 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 3 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $t (i32x4.mul (local.get $a1) (v128.const i32x4 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 0 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 1 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 2 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 3 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $t (i32x4.mul (local.get $a2) (v128.const i32x4 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 0 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 1 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 2 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 3 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $t (i32x4.mul (local.get $a3) (v128.const i32x4 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d 0xc2b2ae3d)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 0 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 1 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 2 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32x4.extract_lane 3 (local.get $t))) (i32.const 17)) (i32.const 0x27d4eb2f)))
    ;; 4 bytes a step, then single bytes
    (block $done4
      (loop $step4
        (br_if $done4 (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 4)))
        (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32.mul (i32.load align=1 (local.get $p)) (i32.const 0xc2b2ae3d))) (i32.const 17)) (i32.const 0x27d4eb2f)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $step4)))
    (block $done1
      (loop $step1
        (br_if $done1 (i32.eq (local.get $p) (local.get $end)))
        (local.set $h (i32.mul (i32.rotl (i32.add (local.get $h) (i32.mul (i32.load8_u (local.get $p)) (i32.const 0x165667b1))) (i32.const 11)) (i32.const 0x9e3779b1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step1)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 15))) (i32.const 0x85ebca77)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))) (i32.const 0xc2b2ae3d)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16)))))
