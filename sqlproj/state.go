package sqlproj

// State is where a projector is. A projector moves between them on its own
// goroutine only:
//
//	Starting  -> Building     no checkpoint, another definition, a missing table, or PROJECTION.REBUILD
//	Starting  -> CatchingUp   a checkpoint behind the log
//	Starting  -> Live         a checkpoint at the log's end
//	CatchingUp -> Live        the last batch reached the log's end
//	Live      -> CatchingUp   the log moved on by more than one batch
//	Building  -> CatchingUp | Live   the fresh table swapped in
//	any       -> Retrying     the database failed or refused a statement; back to Starting after the backoff
//	any       -> Paused       PROJECTION.PAUSE, at the end of the batch under way; PROJECTION.RESUME goes back to Starting
//	any       -> Stopped      shutdown, or the projection left the schema
type State int

// The states.
const (
	Starting State = iota
	Building
	CatchingUp
	Live
	Retrying
	Paused
	Stopped
)

var stateNames = [...]string{"starting", "building", "catching-up", "live", "retrying", "paused", "stopped"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}
