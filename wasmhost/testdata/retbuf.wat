;; Test filter for the return buffer (wasmgate_return_buffer): a 16-byte
;; buffer at 2048. on_request_headers reads request header "x-in" and adds
;; request headers "x-val" (the value it got) and "x-where" ("buf" when the
;; host wrote it into the buffer, "heap" when it called malloc). Built by
;; build.sh.
(module
  (import "env" "proxy_get_header_map_value" (func $get_hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hdr (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 100) "x-in")
  (data (i32.const 110) "x-val")
  (data (i32.const 120) "x-where")
  (data (i32.const 130) "buf")
  (data (i32.const 140) "heap")
  ;; the descriptor: address 2048, size 16
  (data (i32.const 2100) "\00\08\00\00\10\00\00\00")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "wasmgate_return_buffer") (result i32) (i32.const 2100))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $get_hdr (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 1024) (i32.const 1028)))
    (drop (call $add_hdr (i32.const 0) (i32.const 110) (i32.const 5) (i32.load (i32.const 1024)) (i32.load (i32.const 1028))))
    (if (i32.eq (i32.load (i32.const 1024)) (i32.const 2048))
      (then (drop (call $add_hdr (i32.const 0) (i32.const 120) (i32.const 7) (i32.const 130) (i32.const 3))))
      (else (drop (call $add_hdr (i32.const 0) (i32.const 120) (i32.const 7) (i32.const 140) (i32.const 4)))))
    (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
