//go:build !wasip1

package abi

// defaultHost outside wasip1 has no Proxy-Wasm host behind it.
var defaultHost Host = missingHost{}

// missingHost panics on every call: code that reaches it runs natively
// without a fake host installed.
type missingHost struct{}

func noHost() { panic("proxywasm: no Proxy-Wasm host here; in tests use proxywasmtest.New") }

func (missingHost) Log(uint32, string) Status                     { noHost(); return 0 }
func (missingHost) SetTickPeriod(uint32) Status                   { noHost(); return 0 }
func (missingHost) SetEffectiveContext(uint32) Status             { noHost(); return 0 }
func (missingHost) Done() Status                                  { noHost(); return 0 }
func (missingHost) SetBuffer(BufferType, int, int, []byte) Status { noHost(); return 0 }
func (missingHost) GetBuffer(BufferType, int, int, bool) ([]byte, Status) {
	noHost()
	return nil, 0
}
func (missingHost) GetMapValue(MapType, string) (string, Status)   { noHost(); return "", 0 }
func (missingHost) GetMapPairs(MapType) ([]byte, Status)           { noHost(); return nil, 0 }
func (missingHost) SetMapPairs(MapType, []byte) Status             { noHost(); return 0 }
func (missingHost) AddMapValue(MapType, string, string) Status     { noHost(); return 0 }
func (missingHost) ReplaceMapValue(MapType, string, string) Status { noHost(); return 0 }
func (missingHost) RemoveMapValue(MapType, string) Status          { noHost(); return 0 }
func (missingHost) ContinueStream(StreamType) Status               { noHost(); return 0 }
func (missingHost) CloseStream(StreamType) Status                  { noHost(); return 0 }
func (missingHost) SendLocalResponse(uint32, string, []byte, []byte, int32) Status {
	noHost()
	return 0
}
func (missingHost) HTTPCall(string, []byte, []byte, []byte, uint32) (uint32, Status) {
	noHost()
	return 0, 0
}
func (missingHost) GetProperty([]byte) ([]byte, Status)              { noHost(); return nil, 0 }
func (missingHost) SetProperty([]byte, []byte) Status                { noHost(); return 0 }
func (missingHost) GetSharedData(string) ([]byte, uint32, Status)    { noHost(); return nil, 0, 0 }
func (missingHost) SetSharedData(string, []byte, uint32) Status      { noHost(); return 0 }
func (missingHost) RegisterQueue(string) (uint32, Status)            { noHost(); return 0, 0 }
func (missingHost) ResolveQueue(string, string) (uint32, Status)     { noHost(); return 0, 0 }
func (missingHost) Enqueue(uint32, []byte) Status                    { noHost(); return 0 }
func (missingHost) Dequeue(uint32) ([]byte, Status)                  { noHost(); return nil, 0 }
func (missingHost) DefineMetric(MetricType, string) (uint32, Status) { noHost(); return 0, 0 }
func (missingHost) IncrementMetric(uint32, int64) Status             { noHost(); return 0 }
func (missingHost) RecordMetric(uint32, uint64) Status               { noHost(); return 0 }
func (missingHost) GetMetric(uint32) (uint64, Status)                { noHost(); return 0, 0 }
func (missingHost) CallForeignFunction(string, []byte) ([]byte, Status) {
	noHost()
	return nil, 0
}
