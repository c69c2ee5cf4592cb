package engine

import "time"

// runnerIdle is how long a handler goroutine waits for another session's
// frames before it exits.
const runnerIdle = 5 * time.Second

// runFrames has s's queued frames run on a handler goroutine: one that is
// idle, or a new one. It returns false once the engine is stopping.
//
// A session's frames run one at a time on one goroutine (Session.work),
// which leaves once they are done, so an idle session holds none. Rather
// than exit too, that goroutine then waits up to runnerIdle for the next
// session with frames: a new goroutine would start with a small stack and
// grow it again for encoding/json and the handler, which costs as much as
// handling a small frame. Idle goroutines' stacks shrink at garbage
// collection like any other's; they exit after runnerIdle or at Shutdown.
func (e *Engine) runFrames(s *Session) bool {
	select {
	case e.idleRunners <- s:
		return true
	default:
	}
	if !e.startWorker() {
		return false
	}
	go e.runner(s)
	return true
}

func (e *Engine) runner(s *Session) {
	defer e.workers.Done()
	t := time.NewTimer(runnerIdle)
	defer t.Stop()
	for {
		s.work()
		t.Reset(runnerIdle)
		select {
		case s = <-e.idleRunners:
		case <-t.C:
			return
		case <-e.stop:
			return
		}
	}
}
