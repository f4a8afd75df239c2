package balancer_test

import (
	"fmt"
	"net/netip"

	"github.com/wasmgate/wasmgate/gateway/balancer"
)

func Example() {
	eps := []*balancer.Endpoint{
		balancer.NewEndpoint("10.0.0.1:8081", 5),
		balancer.NewEndpoint("10.0.0.2:8081", 1),
		balancer.NewEndpoint("10.0.0.3:8081", 1),
	}
	picker, err := balancer.New("weighted_round_robin", eps)
	if err != nil {
		panic(err)
	}
	for range 7 {
		fmt.Print(picker.Pick(balancer.Hint{}).Address()[7:8], " ")
	}
	fmt.Println()
	// Output: 1 1 2 1 3 1 1
}

// A request retried once goes to another endpoint when there is one.
func ExampleHint_Exclude() {
	eps := []*balancer.Endpoint{
		balancer.NewEndpoint("10.0.0.1:8081", 1),
		balancer.NewEndpoint("10.0.0.2:8081", 1),
	}
	picker, _ := balancer.New("source_ip_hash", eps)
	h := balancer.Hint{Key: balancer.HashAddr(netip.MustParseAddr("192.0.2.7"))}
	first := picker.Pick(h)
	first.Acquire()
	// ... the request fails with a connection error ...
	first.Release()
	h.Exclude(first)
	retry := picker.Pick(h)
	fmt.Println(retry != first)
	// Output: true
}

func ExampleNew_unknown() {
	_, err := balancer.New("fastest", nil)
	fmt.Println(err)
	// Output: balancer: unknown algorithm "fastest" (want one of round_robin, weighted_round_robin, least_conn, random, p2c, source_ip_hash)
}
