package wasmgate.authz
