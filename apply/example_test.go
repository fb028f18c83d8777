package apply_test

import (
	"context"
	"fmt"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime/fake"
)

// The flow of berth up: observe once, plan purely, apply without deciding.
func Example() {
	ctx := context.Background()
	e := fake.New()
	e.AddImage("berth-test/app:latest", "sha256:1111111111111111111111111111111111111111111111111111111111111111")
	d := plantest.State("demo", plantest.Kit{Name: "lab", Subnet: "10.213.230.0/24", Services: []plantest.Service{
		{Name: "cache", IP: 11, Port: 6379},
	}})

	obs, err := plan.Observe(ctx, e, d)
	if err != nil {
		panic(err)
	}
	p := plan.Compute(d, obs, plan.Options{})
	fmt.Print(p)

	_, err = apply.Run(ctx, e, p, apply.Options{Events: func(ev apply.Event) {
		if ev.Phase == apply.Done {
			fmt.Println("done:", ev.Op.ID)
		}
	}})
	if err != nil {
		panic(err)
	}
	obs, _ = plan.Observe(ctx, e, d)
	fmt.Println("empty after apply:", plan.Compute(d, obs, plan.Options{}).Empty())
	// Output:
	//  1  create network demo-lab (10.213.230.0/24, gateway 10.213.230.10): not found
	//  2  create container lab-cache at 10.213.230.11: not found  (after 1)
	// done: create-network:demo-lab
	// done: create:lab-cache
	// empty after apply: true
}
