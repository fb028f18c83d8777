package project

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/state"
)

// ErrNoEarlierGeneration: a rollback without a number needs two
// generations.
var ErrNoEarlierGeneration = errors.New("no earlier generation to roll back to")

// Generations lists the recorded generations, oldest first, without their
// content. Its JSON form is what `berth generations --json` prints.
func (p *Project) Generations() ([]state.Generation, error) {
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	gens, err := sd.Generations()
	if gens == nil && err == nil {
		gens = []state.Generation{}
	}
	return gens, err
}

// Generation loads generation n with its config text and desired state.
// An unknown n gives an error wrapping state.ErrNotFound.
func (p *Project) Generation(n int) (state.Generation, error) {
	sd, err := p.StateDir()
	if err != nil {
		return state.Generation{}, err
	}
	g, err := sd.Generation(n)
	if err != nil {
		return g, hinted(err, "'berth generations' lists them")
	}
	return g, nil
}

// RollbackOptions tune Rollback.
type RollbackOptions struct {
	// Generation is the one to apply again; zero means the one before the
	// newest.
	Generation int
	Wait       bool
	Timeout    time.Duration
	NoLockWait bool
	Events     func(Event)
}

// Rollback makes the engine match the desired state recorded in a
// generation and records that as a new generation (its Command is
// "rollback N"). The config file is not changed. RunResult.RolledBackTo
// names the generation applied.
func (p *Project) Rollback(ctx context.Context, o RollbackOptions) (*RunResult, error) {
	n := o.Generation
	if n == 0 {
		gens, err := p.Generations()
		if err != nil {
			return nil, err
		}
		if len(gens) < 2 {
			return nil, hinted(ErrNoEarlierGeneration, "'berth generations' lists them")
		}
		n = gens[len(gens)-2].Number
	}
	gen, err := p.Generation(n)
	if err != nil {
		return nil, err
	}
	st, err := DecodeDesired(gen.Desired)
	if err != nil {
		return nil, err
	}
	// The generation recorded the secrets of its day; a rotated one must
	// not come back.
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	if err := st.RefreshSecrets(sd.Secret, sd.SecretFile); err != nil {
		return nil, err
	}
	cmd := "rollback " + strconv.Itoa(n)
	res, err := p.converge(ctx, runOptions{action: plan.ActionUp, st: st, resolved: true, wait: o.Wait, timeout: o.Timeout,
		noLockWait: o.NoLockWait, record: true, command: cmd, config: gen.Config, events: newSink(o.Events)})
	if res != nil {
		res.RolledBackTo = n
	}
	return res, err
}
