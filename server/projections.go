package server

import (
	"errors"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/sqlproj"
)

// projections is the SQL projectors as the PROJECTION commands see them.
type projections struct{ m *sqlproj.Manager }

func (p projections) Names() []string { return p.m.Names() }

func (p projections) Status(name string, rows bool) (commands.ProjectionStatus, error) {
	st, err := p.m.Status(name, rows)
	if err != nil {
		return commands.ProjectionStatus{}, projectionError(err)
	}
	out := commands.ProjectionStatus{
		Name: st.Name, Database: st.Database, Driver: st.Driver, Table: st.Table, From: st.From, Events: st.Events,
		State: st.State.String(), Position: st.Position, LogPosition: st.LogPosition, Lag: st.Lag, LagMillis: st.LagMillis,
		Rows: st.Rows, Generation: st.Generation, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		ValueErrors: st.ValueErrors, FirstValueError: st.FirstValueError,
	}
	if b := st.Build; b != nil {
		out.Building, out.BuildDone, out.BuildTotal, out.BuildPerSec = true, b.Done, b.Total, b.PerSec()
	}
	return out, nil
}

func (p projections) Pause(name string) error   { return projectionError(p.m.Pause(name)) }
func (p projections) Resume(name string) error  { return projectionError(p.m.Resume(name)) }
func (p projections) Rebuild(name string) error { return projectionError(p.m.Rebuild(name)) }

func (p projections) Wait(name string, position uint64, wake func() bool) (uint64, bool, func(), error) {
	reached, ok, cancel, err := p.m.Wait(name, position, wake)
	return reached, ok, cancel, projectionError(err)
}

// projectionError is a projectors' error as its reply.
func projectionError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sqlproj.ErrNoProjection), errors.Is(err, sqlproj.ErrPaused):
		return commands.ReplyError("ERR " + err.Error()[len("sqlproj: "):])
	}
	return err
}
