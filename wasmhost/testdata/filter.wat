;; Test filter for wasmhost: exercises most of the Proxy-Wasm ABI 0.2.1.
;; The request header "x-mode" selects a behaviour (first byte); see
;; on_request_headers. Built by build.sh with wabt's wat2wasm.
(module
  (type $i32x5 (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hdr (type $i32x5)))
  (import "env" "proxy_add_header_map_value" (func $add_hdr (type $i32x5)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_ctx (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $set_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (type $i32x5)))
  (import "env" "proxy_set_shared_data" (func $set_shared (type $i32x5)))
  (import "env" "proxy_register_shared_queue" (func $reg_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $resolve_queue (type $i32x5)))
  (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $dequeue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (type $i32x5)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buf (type $i32x5)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $paused (mut i32) (i32.const 0))
  (global $queue (mut i32) (i32.const 0))
  (global $m_requests (mut i32) (i32.const 0))
  (global $m_active (mut i32) (i32.const 0))
  (global $m_body (mut i32) (i32.const 0))
  (global $m_queue (mut i32) (i32.const 0))

  (data (i32.const 100) "x-mode")
  (data (i32.const 110) "x-in")
  (data (i32.const 120) "x-out")
  (data (i32.const 150) "denied")
  (data (i32.const 160) "forbidden")
  (data (i32.const 170) "x-resumed")
  (data (i32.const 180) "tick")
  (data (i32.const 190) "auth")
  ;; pairs {":method":"GET", ":path":"/check", ":authority":"auth"} (69 bytes)
  (data (i32.const 200) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\04\00\00\00:method\00GET\00:path\00/check\00:authority\00auth\00")
  (data (i32.const 280) ":status")
  (data (i32.const 290) "200")
  (data (i32.const 300) "x-auth")
  (data (i32.const 310) "ok")
  (data (i32.const 320) "unauthorized")
  ;; pairs {"x-reason":"policy"} (28 bytes)
  (data (i32.const 340) "\01\00\00\00\08\00\00\00\06\00\00\00x-reason\00policy\00")
  (data (i32.const 370) "x-oob")
  (data (i32.const 380) "request\00path")
  (data (i32.const 400) "x-path")
  (data (i32.const 410) "plugin_name")
  (data (i32.const 430) "x-plugin")
  (data (i32.const 440) "source\00address")
  (data (i32.const 460) "x-src")
  (data (i32.const 470) "wasmgate\00upstream")
  (data (i32.const 490) "api")
  (data (i32.const 500) "counter")
  (data (i32.const 510) "x-count")
  (data (i32.const 520) "q")
  (data (i32.const 530) "vm1")
  (data (i32.const 540) "requests_total")
  (data (i32.const 560) "active")
  (data (i32.const 570) "body_size")
  (data (i32.const 580) "queue_items")
  (data (i32.const 600) "configured")
  (data (i32.const 620) "<>")
  (data (i32.const 630) "replaced")
  (data (i32.const 640) "hello from wasi\n")
  (data (i32.const 660) "\80\02\00\00\10\00\00\00") ;; iovec {640, 16}

  ;; 1024 ret ptr, 1028 ret size, 1032 cas, 1036 id, 1040 token, 1044 tmp, 1100 digits

  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))

  (func $reset (global.set $heap (i32.const 8192)))

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

  ;; $itoa writes v in decimal at p and returns the length.
  (func $itoa (param $v i32) (param $p i32) (result i32)
    (local $n i32) (local $t i32)
    (local.set $t (local.get $v))
    (loop $count
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
      (br_if $count (local.get $t)))
    (local.set $t (local.get $n))
    (loop $write
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (i32.store8 (i32.add (local.get $p) (local.get $t)) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $write (local.get $t)))
    (local.get $n))

  ;; $mode returns the first byte of request header x-mode, or 0.
  (func $mode (result i32)
    (if (i32.eqz (call $get_hdr (i32.const 0) (i32.const 100) (i32.const 6) (i32.const 1024) (i32.const 1028)))
      (then (if (i32.load (i32.const 1028)) (then (return (i32.load8_u (i32.load (i32.const 1024))))))))
    (i32.const 0))

  ;; $prop_to_header copies property (p, pl) into request header (h, hl).
  (func $prop_to_header (param $p i32) (param $pl i32) (param $h i32) (param $hl i32)
    (if (i32.eqz (call $get_prop (local.get $p) (local.get $pl) (i32.const 1024) (i32.const 1028)))
      (then (drop (call $add_hdr (i32.const 0) (local.get $h) (local.get $hl) (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))))))

  (func (export "proxy_on_context_create") (param i32 i32))

  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $fd_write (i32.const 1) (i32.const 660) (i32.const 1) (i32.const 668)))
    (if (local.get $size)
      (then
        (drop (call $get_buf (i32.const 6) (i32.const 0) (i32.const 1) (i32.const 1024) (i32.const 1028)))
        (if (i32.eq (i32.load8_u (i32.load (i32.const 1024))) (i32.const 102)) ;; 'f'
          (then (return (i32.const 0))))))
    (i32.const 1))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $define_metric (i32.const 0) (i32.const 540) (i32.const 14) (i32.const 1036)))
    (global.set $m_requests (i32.load (i32.const 1036)))
    (drop (call $define_metric (i32.const 1) (i32.const 560) (i32.const 6) (i32.const 1036)))
    (global.set $m_active (i32.load (i32.const 1036)))
    (drop (call $define_metric (i32.const 2) (i32.const 570) (i32.const 9) (i32.const 1036)))
    (global.set $m_body (i32.load (i32.const 1036)))
    (drop (call $define_metric (i32.const 0) (i32.const 580) (i32.const 11) (i32.const 1036)))
    (global.set $m_queue (i32.load (i32.const 1036)))
    (drop (call $reg_queue (i32.const 520) (i32.const 1) (i32.const 1036)))
    (global.set $queue (i32.load (i32.const 1036)))
    ;; Create the shared counter once: a set with cas 0 is unconditional, so
    ;; creating it on the request path would race between instances.
    (if (call $get_shared (i32.const 500) (i32.const 7) (i32.const 1024) (i32.const 1028) (i32.const 1032))
      (then
        (i32.store (i32.const 1044) (i32.const 0))
        (drop (call $set_shared (i32.const 500) (i32.const 7) (i32.const 1044) (i32.const 4) (i32.const 0)))))
    (drop (call $log (i32.const 2) (i32.const 600) (i32.const 10)))
    (if (local.get $size)
      (then
        (drop (call $get_buf (i32.const 7) (i32.const 0) (i32.const 1) (i32.const 1024) (i32.const 1028)))
        (if (i32.eq (i32.load8_u (i32.load (i32.const 1024))) (i32.const 102)) ;; 'f'
          (then (return (i32.const 0))))))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $m i32) (local $v i32) (local $st i32)
    (call $reset)
    (drop (call $inc_metric (global.get $m_requests) (i64.const 1)))
    (drop (call $inc_metric (global.get $m_active) (i64.const 1)))
    (local.set $m (call $mode))
    (if (i32.eq (local.get $m) (i32.const 108)) ;; 'l' local response
      (then
        (drop (call $local (i32.const 403) (i32.const 150) (i32.const 6) (i32.const 160) (i32.const 9) (i32.const 340) (i32.const 28) (i32.const -1)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $m) (i32.const 112)) ;; 'p' pause until a tick
      (then
        (global.set $paused (local.get $ctx))
        (drop (call $set_tick (i32.const 1)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $m) (i32.const 99)) ;; 'c' pause until an http_call answers
      (then
        (if (call $http_call (i32.const 190) (i32.const 4) (i32.const 200) (i32.const 69) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 1040))
          (then (unreachable)))
        (global.set $paused (local.get $ctx))
        (return (i32.const 1))))
    (if (i32.eq (local.get $m) (i32.const 120)) ;; 'x' close the stream
      (then
        (drop (call $close (i32.const 0)))
        (return (i32.const 0))))
    (if (i32.eq (local.get $m) (i32.const 116)) ;; 't' trap
      (then (unreachable)))
    (if (i32.eq (local.get $m) (i32.const 105)) ;; 'i' infinite loop
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $m) (i32.const 109)) ;; 'm' memory hog
      (then
        (loop $grow
          (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then (unreachable)))
          (br $grow))))
    (if (i32.eq (local.get $m) (i32.const 111)) ;; 'o' out-of-bounds pointers
      (then
        (i32.store8 (i32.const 1100) (i32.add (i32.const 48)
          (call $get_hdr (i32.const 0) (i32.const -16) (i32.const 10) (i32.const 1024) (i32.const 1028))))
        (i32.store8 (i32.const 1101) (i32.add (i32.const 48)
          (call $get_hdr (i32.const 0) (i32.const 100) (i32.const 6) (i32.const -16) (i32.const 1028))))
        (drop (call $add_hdr (i32.const 0) (i32.const 370) (i32.const 5) (i32.const 1100) (i32.const 2)))
        (return (i32.const 0))))
    (if (i32.eq (local.get $m) (i32.const 114)) ;; 'r' properties
      (then
        (call $prop_to_header (i32.const 380) (i32.const 12) (i32.const 400) (i32.const 6))
        (call $prop_to_header (i32.const 410) (i32.const 11) (i32.const 430) (i32.const 8))
        (call $prop_to_header (i32.const 440) (i32.const 14) (i32.const 460) (i32.const 5))
        (drop (call $set_prop (i32.const 470) (i32.const 17) (i32.const 490) (i32.const 3)))
        (return (i32.const 0))))
    (if (i32.eq (local.get $m) (i32.const 115)) ;; 's' shared counter with CAS
      (then
        (loop $retry
          (local.set $v (i32.const 0))
          (if (call $get_shared (i32.const 500) (i32.const 7) (i32.const 1024) (i32.const 1028) (i32.const 1032))
            (then (i32.store (i32.const 1032) (i32.const 0)))
            (else (local.set $v (i32.load (i32.load (i32.const 1024))))))
          (local.set $v (i32.add (local.get $v) (i32.const 1)))
          (i32.store (i32.const 1044) (local.get $v))
          (local.set $st (call $set_shared (i32.const 500) (i32.const 7) (i32.const 1044) (i32.const 4) (i32.load (i32.const 1032))))
          (br_if $retry (i32.eq (local.get $st) (i32.const 8))))
        (drop (call $add_hdr (i32.const 0) (i32.const 510) (i32.const 7) (i32.const 1100) (call $itoa (local.get $v) (i32.const 1100))))
        (return (i32.const 0))))
    (if (i32.eq (local.get $m) (i32.const 113)) ;; 'q' enqueue
      (then
        (if (i32.eqz (call $resolve_queue (i32.const 530) (i32.const 3) (i32.const 520) (i32.const 1) (i32.const 1036)))
          (then (drop (call $enqueue (i32.load (i32.const 1036)) (i32.const 100) (i32.const 6)))))
        (return (i32.const 0))))
    (i32.const 0))

  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $reset)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $record_metric (global.get $m_body) (i64.extend_i32_u (local.get $size))))
    (drop (call $set_buf (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 620) (i32.const 1)))
    (drop (call $set_buf (i32.const 0) (i32.const 0x7fffffff) (i32.const 0) (i32.const 621) (i32.const 1)))
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $reset)
    (if (i32.eqz (call $get_hdr (i32.const 0) (i32.const 110) (i32.const 4) (i32.const 1024) (i32.const 1028)))
      (then (drop (call $add_hdr (i32.const 2) (i32.const 120) (i32.const 5) (i32.load (i32.const 1024)) (i32.load (i32.const 1028))))))
    (i32.const 0))

  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $reset)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set_buf (i32.const 1) (i32.const 0) (i32.const 0x7fffffff) (i32.const 630) (i32.const 8)))
    (i32.const 0))

  (func (export "proxy_on_done") (param $ctx i32) (result i32)
    (drop (call $inc_metric (global.get $m_active) (i64.const -1)))
    (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))

  (func (export "proxy_on_tick") (param $root i32)
    (call $reset)
    (if (global.get $paused)
      (then
        (drop (call $set_ctx (global.get $paused)))
        (drop (call $add_hdr (i32.const 0) (i32.const 170) (i32.const 9) (i32.const 180) (i32.const 4)))
        (drop (call $continue (i32.const 0)))
        (global.set $paused (i32.const 0))
        (drop (call $set_tick (i32.const 0))))))

  (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (call $reset)
    (if (i32.eqz (global.get $paused)) (then (return)))
    (drop (call $set_ctx (global.get $paused)))
    (global.set $paused (i32.const 0))
    (if (i32.eqz (call $get_hdr (i32.const 6) (i32.const 280) (i32.const 7) (i32.const 1024) (i32.const 1028)))
      (then
        (if (i32.and (i32.eq (i32.load (i32.const 1028)) (i32.const 3))
                     (i32.eq (i32.and (i32.load (i32.load (i32.const 1024))) (i32.const 0xffffff)) (i32.const 0x303032))) ;; "200"
          (then
            (drop (call $add_hdr (i32.const 0) (i32.const 300) (i32.const 6) (i32.const 310) (i32.const 2)))
            (drop (call $continue (i32.const 0)))
            (return)))))
    (drop (call $local (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 320) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const -1))))

  (func (export "proxy_on_queue_ready") (param $root i32) (param $id i32)
    (call $reset)
    (loop $drain
      (if (i32.eqz (call $dequeue (local.get $id) (i32.const 1024) (i32.const 1028)))
        (then
          (drop (call $inc_metric (global.get $m_queue) (i64.const 1)))
          (br $drain)))))
)
