package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
)

// minChunk is the fewest elements a goroutine of a parallel run takes.
const minChunk = 64

// WithParallelism lets Protect, Reveal and Rewrap of a large slice or array
// use up to n goroutines (n < 1 means runtime.GOMAXPROCS(0)): the elements
// are split into n contiguous parts of at least 64, each walked by its own
// goroutine, and the changes are applied only when every part succeeded, so
// a call stays all or nothing. It applies to slices and arrays of structs
// whose elements cannot share values (no pointers, maps, slices or
// interfaces reachable from the element type); other values, and smaller
// slices, are walked on the calling goroutine. On error the first part's
// error in slice order is returned. The default is 1.
func WithParallelism(n int) Option {
	return optionFunc(func(p *Protector) error {
		if n < 1 {
			n = runtime.GOMAXPROCS(0)
		}
		p.parallelism = n
		return nil
	})
}

// doParallel walks the slice or array e of plan rp in parts, one run per
// part, and commits all of them or none.
func (p *Protector) doParallel(ctx context.Context, e reflect.Value, rp *typePlan, m verb, rep *Report) (int, error) {
	n := rp.root
	total := e.Len()
	parts := min(p.parallelism, total/minChunk)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runs := make([]*run, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := i*total/parts, (i+1)*total/parts
		r := p.newRun(runCtx, m, false, rp.name)
		runs[i] = r
		wg.Go(func() {
			if nodeSubjects(n) && m != verbErase {
				// One batch of subject keys per part.
				if err := r.resolveSubjects(e.Slice(lo, hi), n); err != nil {
					errs[i] = err
					cancel()
					return
				}
			}
			for j := lo; j < hi; j++ {
				r.path = append(r.path, pathSeg{index: j, elem: true})
				err := r.walk(e.Index(j), n.elem)
				r.path = r.path[:len(r.path)-1]
				if err != nil {
					errs[i] = err
					cancel()
					return
				}
			}
			if err := r.finish(); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, r := range runs {
			r.release()
		}
	}()
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) && ctx.Err() == nil:
			// This part stopped because another failed.
			if first == nil {
				first = err
			}
		default:
			return 0, err
		}
	}
	if first != nil {
		return 0, fmt.Errorf("pii: parallel run stopped: %w", first)
	}
	changed := 0
	for _, r := range runs {
		r.subjects.report(rep)
		changed += r.commit()
	}
	return changed, nil
}
