package main

import "errors"

// postgresBackend is not there yet: the PostgreSQL driver of the
// projections is not in this build.
func (b *bench) postgresBackend() (*sqlBackend, error) {
	return nil, errors.New("-sql-db postgres: this build has no PostgreSQL driver for the projections")
}
