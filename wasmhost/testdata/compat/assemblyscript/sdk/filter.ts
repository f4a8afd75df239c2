// The compat filter (see ../filter.ts) written with the AssemblyScript
// Proxy-Wasm SDK (npm package "@solo-io/proxy-runtime", ABI 0.2.0) instead of
// the raw ABI, for wasmhost/compat_test.go. Its language tag is "as-sdk".
//
// Build (with the assemblyscript release the SDK targets, 0.14):
//   asc filter.ts -b filter.wasm -O --use abort=abort_proc_exit
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, log, LogLevelValues, HeaderPair, Headers,
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, BufferTypeValues } from "@solo-io/proxy-runtime/runtime";

class CompatRoot extends RootContext {
  config: string = "";

  createContext(context_id: u32): Context {
    return new Compat(context_id, this);
  }

  // Not RootContext.onConfigure/getConfiguration: in this SDK release it
  // passes the configuration size where proxy_get_buffer_bytes wants the
  // address of the returned size (so the host writes 4 bytes at that address
  // and the SDK reads a stale size: an empty configuration, in Envoy too).
  onConfigure(configuration_size: u32): bool {
    this.config = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size));
    log(LogLevelValues.info, "compat as-sdk: configured with " + this.config);
    return true;
  }
}

class Compat extends Context {
  constructor(context_id: u32, root_context: CompatRoot) {
    super(context_id, root_context);
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    if (stream_context.headers.request.get("x-deny") == "1") {
      const headers: Headers = [];
      headers.push(new HeaderPair(String.UTF8.encode("x-denied-by"), String.UTF8.encode("as-sdk")));
      send_local_response(403, "compat_denied", String.UTF8.encode("denied"), headers, GrpcStatusValues.InvalidCode);
      return FilterHeadersStatusValues.StopIteration;
    }
    stream_context.headers.request.add("x-lang", "as-sdk");
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-configured", (this.root_context as CompatRoot).config);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new CompatRoot(context_id); }, "");
