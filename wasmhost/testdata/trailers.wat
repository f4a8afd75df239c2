;; Test filter for trailers (and crashes on demand). Built by build.sh with
;; wabt's wat2wasm.
;;
;; The plugin configuration is a suffix S (may be empty).
;; - request headers: a request header "x-crash" traps (unreachable);
;;   appends 'h' to the request header "x-order".
;; - request body: appends 'b' to "x-order".
;; - request trailers: the trailer "x-trl-mode" selects 't' trap or 'l'
;;   local response 403; else appends 't' to "x-order", appends S to the
;;   trailer "x-req-trl" and removes the trailer "x-req-trl-drop".
;; - response trailers: the response trailer "x-trl-mode" selects 't' trap,
;;   'l' local response 403 or 'x' close the stream; else appends S to the
;;   trailer "x-resp-trl", removes "x-resp-trl-drop" and adds
;;   "x-resp-trl-seen: 1".
;; So with two instances configured "A" and "B" in a chain, the upstream
;; sees x-req-trl "vAB" and the client x-resp-trl "vBA".
(module
  (type $i32x5 (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hdr (type $i32x5)))
  (import "env" "proxy_add_header_map_value" (func $add_hdr (type $i32x5)))
  (import "env" "proxy_replace_header_map_value" (func $replace_hdr (type $i32x5)))
  (import "env" "proxy_remove_header_map_value" (func $remove_hdr (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (type $i32x5)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $sfx_len (mut i32) (i32.const 0))

  (data (i32.const 100) "x-crash")
  (data (i32.const 110) "x-order")
  (data (i32.const 120) "x-req-trl")
  (data (i32.const 150) "x-req-trl-drop")
  (data (i32.const 170) "x-trl-mode")
  (data (i32.const 190) "x-resp-trl")
  (data (i32.const 210) "x-resp-trl-seen")
  (data (i32.const 230) "x-resp-trl-drop")
  (data (i32.const 250) "1")
  (data (i32.const 260) "trailer-denied")

  ;; 1024 ret ptr, 1028 ret size; 2800 suffix (64 bytes); 3000 value scratch;
  ;; 3900 x-order scratch

  (func (export "proxy_abi_version_0_2_1"))

  (func $alloc (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16))) (i32.const 16)) (i32.const 1))) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  (func $reset (global.set $heap (i32.const 8192)))

  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i)) (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; $first returns the first byte of map m's field (name, len), or 0.
  (func $first (param $m i32) (param $name i32) (param $len i32) (result i32)
    (if (i32.eqz (call $get_hdr (local.get $m) (local.get $name) (local.get $len) (i32.const 1024) (i32.const 1028)))
      (then (if (i32.load (i32.const 1028)) (then (return (i32.load8_u (i32.load (i32.const 1024))))))))
    (i32.const 0))

  ;; $append appends the suffix to the value of map m's field (name, len),
  ;; when present.
  (func $append (param $m i32) (param $name i32) (param $len i32)
    (local $n i32)
    (if (call $get_hdr (local.get $m) (local.get $name) (local.get $len) (i32.const 1024) (i32.const 1028))
      (then (return)))
    (local.set $n (i32.load (i32.const 1028)))
    (if (i32.gt_u (local.get $n) (i32.const 800)) (then (return)))
    (call $copy (i32.const 3000) (i32.load (i32.const 1024)) (local.get $n))
    (call $copy (i32.add (i32.const 3000) (local.get $n)) (i32.const 2800) (global.get $sfx_len))
    (drop (call $replace_hdr (local.get $m) (local.get $name) (local.get $len) (i32.const 3000) (i32.add (local.get $n) (global.get $sfx_len)))))

  ;; $mark appends byte ch to the request header x-order.
  (func $mark (param $ch i32)
    (local $n i32)
    (if (i32.eqz (call $get_hdr (i32.const 0) (i32.const 110) (i32.const 7) (i32.const 1024) (i32.const 1028)))
      (then
        (local.set $n (i32.load (i32.const 1028)))
        (if (i32.gt_u (local.get $n) (i32.const 90)) (then (return)))
        (call $copy (i32.const 3900) (i32.load (i32.const 1024)) (local.get $n))))
    (i32.store8 (i32.add (i32.const 3900) (local.get $n)) (local.get $ch))
    (drop (call $replace_hdr (i32.const 0) (i32.const 110) (i32.const 7) (i32.const 3900) (i32.add (local.get $n) (i32.const 1)))))

  (func (export "proxy_on_context_create") (param i32 i32))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.and (i32.gt_u (local.get $size) (i32.const 0)) (i32.le_u (local.get $size) (i32.const 64)))
      (then
        (if (i32.eqz (call $get_buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 1024) (i32.const 1028)))
          (then
            (global.set $sfx_len (i32.load (i32.const 1028)))
            (call $copy (i32.const 2800) (i32.load (i32.const 1024)) (global.get $sfx_len))))))
    (call $reset)
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $reset)
    (if (i32.eqz (call $get_hdr (i32.const 0) (i32.const 100) (i32.const 7) (i32.const 1024) (i32.const 1028)))
      (then (unreachable)))
    (call $mark (i32.const 104)) ;; 'h'
    (i32.const 0))

  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $reset)
    (call $mark (i32.const 98)) ;; 'b'
    (i32.const 0))

  (func (export "proxy_on_request_trailers") (param $ctx i32) (param $n i32) (result i32)
    (local $m i32)
    (call $reset)
    (local.set $m (call $first (i32.const 1) (i32.const 170) (i32.const 10)))
    (if (i32.eq (local.get $m) (i32.const 116)) ;; 't'
      (then (unreachable)))
    (if (i32.eq (local.get $m) (i32.const 108)) ;; 'l'
      (then
        (drop (call $local (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 260) (i32.const 14) (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 1))))
    (call $mark (i32.const 116)) ;; 't'
    (call $append (i32.const 1) (i32.const 120) (i32.const 9))
    (drop (call $remove_hdr (i32.const 1) (i32.const 150) (i32.const 14)))
    (i32.const 0))

  (func (export "proxy_on_response_trailers") (param $ctx i32) (param $n i32) (result i32)
    (local $m i32)
    (call $reset)
    (local.set $m (call $first (i32.const 3) (i32.const 170) (i32.const 10)))
    (if (i32.eq (local.get $m) (i32.const 116)) ;; 't'
      (then (unreachable)))
    (if (i32.eq (local.get $m) (i32.const 108)) ;; 'l'
      (then
        (drop (call $local (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 260) (i32.const 14) (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $m) (i32.const 120)) ;; 'x'
      (then
        (drop (call $close (i32.const 0)))
        (return (i32.const 0))))
    (call $append (i32.const 3) (i32.const 190) (i32.const 10))
    (drop (call $remove_hdr (i32.const 3) (i32.const 230) (i32.const 15)))
    (drop (call $add_hdr (i32.const 3) (i32.const 210) (i32.const 15) (i32.const 250) (i32.const 1)))
    (i32.const 0))

  (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.const 1))
)
