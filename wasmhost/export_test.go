package wasmhost

// InstanceMemoryBytes returns the linear memory size of every live instance
// of p (tests only).
func InstanceMemoryBytes(p *Plugin) []uint32 {
	var out []uint32
	for i := range p.slots {
		if in := p.slots[i].Load(); in != nil && in.mem != nil && !in.dead.Load() {
			out = append(out, in.mem.Size())
		}
	}
	return out
}

// BoundInstance identifies the instance c is bound to (tests only).
func BoundInstance(c *HTTPContext) any { return c.in }
