package tillidgorm

import (
	"context"
	"reflect"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
)

// This file overlaps revealing a query's result with GORM's scanning of
// it: GORM scans the rows in chunks (gorm.Scan over a Rows that ends after
// each chunk), and goroutines reveal copies of the scanned chunks while the
// next ones are read. The result is assembled only once every row is
// scanned: from the revealed copies when all of them revealed, from the
// rows as stored otherwise, so a failed query leaves no plaintext and no
// half-revealed result.

// chunkRows is how many records one chunk of a pipelined query holds.
const chunkRows = 64

// revealedKey marks a statement whose result the pipelined query revealed
// already, for the reveal callback to leave it alone.
const revealedKey = "tillid:revealed"

// query is the plugin's gorm:query: next (GORM's, or whatever was
// registered there before the plugin) for every statement but, when next
// is GORM's own, the reads of a slice of flat records of a protected model
// with parallelism above 1, which it runs as a pipeline.
func (pl *Plugin) query(next func(*gorm.DB)) func(*gorm.DB) {
	// The pipeline does what GORM's own callback does; another one (a
	// cache, a replica router) runs for every statement.
	own := reflect.ValueOf(next).Pointer() == reflect.ValueOf(callbacks.Query).Pointer()
	return func(db *gorm.DB) {
		var m *model
		if own {
			m = pl.pipelineModel(db)
		}
		if m == nil {
			next(db)
			return
		}
		callbacks.BuildQuerySQL(db)
		if db.DryRun || db.Error != nil {
			return
		}
		stmt := db.Statement
		rows, err := stmt.ConnPool.QueryContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
		if err != nil {
			db.AddError(err)
			return
		}
		defer func() { db.AddError(rows.Close()) }()
		pl.pipeline(db, m, rows)
		if stmt.Result != nil {
			stmt.Result.RowsAffected = db.RowsAffected
		}
	}
}

// pipelineModel returns the model of a statement the pipeline can run, or
// nil: a Find (no Joins, no error on an empty result) into a slice of the
// statement's flat model type, or of pointers to it, that has protected
// columns, with parallelism above 1.
func (pl *Plugin) pipelineModel(db *gorm.DB) *model {
	stmt := db.Statement
	if pl.parallel < 2 || db.Error != nil || stmt.Schema == nil || len(stmt.Joins) > 0 || stmt.RaiseErrorOnNotFound {
		return nil
	}
	rv := stmt.ReflectValue
	if rv.Kind() != reflect.Slice || !rv.CanSet() || !flat(stmt.Schema.ModelType) {
		return nil
	}
	// []T or []*T: GORM scans every row into a record of its own.
	if et := rv.Type().Elem(); et != stmt.Schema.ModelType && et != reflect.PointerTo(stmt.Schema.ModelType) {
		return nil
	}
	if _, ok := stmt.Dest.(interface{ ModifyStatement(*gorm.Statement) }); ok {
		return nil
	}
	m := pl.modelOf(stmt.Schema)
	if len(m.columns) == 0 {
		return nil
	}
	return m
}

// chunk is one scanned part of a pipelined result: the records as stored,
// and, once revealed, their revealed copy or the error.
type chunk struct {
	stored   reflect.Value // a []T, or a []*T of distinct records
	revealed reflect.Value // a []T, valid when err is nil
	err      error
}

// commit returns the chunk's records for the result: the revealed ones
// when reveal, the stored ones otherwise. Records held by pointer are
// revealed in place, then.
func (c *chunk) commit(reveal bool) reflect.Value {
	if !reveal {
		return c.stored
	}
	if c.stored.Type().Elem().Kind() != reflect.Pointer {
		return c.revealed
	}
	for i := range c.stored.Len() {
		c.stored.Index(i).Elem().Set(c.revealed.Index(i))
	}
	return c.stored
}

// pipeline scans rows into the statement's slice chunk by chunk, reveals
// the chunks on up to pl.parallel-1 goroutines meanwhile, started as
// chunks come (and on the calling one once the rows are read), and sets the
// slice to the revealed records, or, on any error, to the records as
// stored.
func (pl *Plugin) pipeline(db *gorm.DB, m *model, rows gorm.Rows) {
	stmt := db.Statement
	ctx := stmt.Context
	dest, destPtr := stmt.ReflectValue, stmt.Dest
	sliceType := dest.Type()

	todo := make(chan *chunk, 64)
	var wg sync.WaitGroup
	workers := 0

	var chunks []*chunk
	total := int64(0)
	lim := &limitRows{Rows: rows}
	for {
		part := reflect.New(sliceType)
		part.Elem().Set(reflect.MakeSlice(sliceType, 0, chunkRows))
		stmt.Dest, stmt.ReflectValue = part.Interface(), part.Elem()
		lim.left = chunkRows
		gorm.Scan(lim, db, 0)
		total += db.RowsAffected
		if n := part.Elem().Len(); n > 0 {
			c := &chunk{stored: part.Elem()}
			chunks = append(chunks, c)
			// A worker only while rows remain to be scanned: a result of
			// one chunk is revealed here, with no goroutine.
			if !lim.done && workers < pl.parallel-1 {
				workers++
				wg.Go(func() {
					for c := range todo {
						pl.revealChunk(ctx, m, c)
					}
				})
			}
			todo <- c
		}
		if lim.done || db.Error != nil {
			break
		}
	}
	close(todo)
	// The calling goroutine reveals what is left, then waits for the rest.
	for c := range todo {
		pl.revealChunk(ctx, m, c)
	}
	wg.Wait()

	stmt.Dest, stmt.ReflectValue = destPtr, dest
	db.RowsAffected = total
	var revealErr error
	for _, c := range chunks {
		if c.err != nil {
			revealErr = c.err
			break
		}
	}
	// As gorm.Scan does: a slice the caller made with room is reused.
	out := dest
	if dest.Cap() < int(total) {
		out = reflect.MakeSlice(sliceType, int(total), int(total))
	} else {
		out.SetLen(int(total))
	}
	at := 0
	for _, c := range chunks {
		at += reflect.Copy(out.Slice(at, int(total)), c.commit(revealErr == nil && db.Error == nil))
	}
	dest.Set(out)
	if revealErr != nil && db.Error == nil {
		db.AddError(revealErr)
	}
	stmt.Settings.Store(revealedKey, true)
}

// revealChunk reveals a copy of c's records, filling protected string
// columns the query left empty as the reveal callback does.
func (pl *Plugin) revealChunk(ctx context.Context, m *model, c *chunk) {
	n := c.stored.Len()
	cp := reflect.New(reflect.SliceOf(m.schema.ModelType))
	cp.Elem().Set(reflect.MakeSlice(cp.Elem().Type(), n, n))
	if c.stored.Type().Elem().Kind() == reflect.Pointer {
		for i := range n {
			cp.Elem().Index(i).Set(c.stored.Index(i).Elem())
		}
	} else {
		reflect.Copy(cp.Elem(), c.stored)
	}
	pl.fillEmpty(ctx, m, cp.Elem())
	if c.err = pl.p.Reveal(ctx, cp.Interface()); c.err == nil {
		c.revealed = cp.Elem()
	}
}

// limitRows is a gorm.Rows that ends after left more rows, so that
// gorm.Scan reads one chunk; done reports that the rows below ended.
type limitRows struct {
	gorm.Rows
	left int
	done bool
}

func (l *limitRows) Next() bool {
	if l.left == 0 || l.done {
		return false
	}
	if !l.Rows.Next() {
		l.done = true
		return false
	}
	l.left--
	return true
}
