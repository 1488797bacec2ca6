package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// maxListed is how many failing values -check -verify lists.
const maxListed = 100

// check counts the table's values per keyset, kind and key ID and, with
// -verify, opens each of them; it returns how many values are left to
// rewrap (under a key other than their keyset's primary, or not protected)
// or fail to verify. It changes nothing.
func (e *engine) check(ctx context.Context, sf *storeFlags, store keys.Provider, stdout, stderr io.Writer) (int64, error) {
	o := e.o
	type count struct {
		id    keys.KeysetID
		keyID uint32
	}
	perKey := map[count]int64{}
	plain := map[string]int64{}
	vault := map[string]int64{}
	subject := map[string]int64{} // sealed under subject keys, which a rewrap does not reach
	var rows, failed int64
	var lo *keyValue
	for {
		c, cancel := context.WithTimeout(ctx, sf.timeout)
		q, args := e.selectRows(lo, nil, o.batch)
		n := 0
		err := e.scanRows(c, q, args, func(r row) error {
			n++
			rows++
			k := r.key
			lo = &k
			for _, spec := range append(o.columns, o.vault...) {
				v := r.vals[e.pos[spec.name]]
				if !v.Valid {
					continue
				}
				if spec.vault {
					vault[spec.name]++
					continue
				}
				if subjectSealed(v.String) {
					subject[spec.name]++
					continue
				}
				_, keyID, err := pii.KeyID(v.String)
				if err != nil {
					plain[spec.name]++
					continue
				}
				perKey[count{keys.KeysetID{Name: keyName(spec.col), Kind: kindOf(spec.col)}, keyID}]++
				if !o.verify {
					continue
				}
				if err := e.verifyValue(c, spec, r, keyID); err != nil {
					if c.Err() != nil {
						return err
					}
					if failed < maxListed {
						fmt.Fprintf(stdout, "  FAILED %s=%s column %s: %v\n", o.keyColumn, r.key.text(), spec.name, err)
					}
					failed++
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			return 0, err
		}
		if n < o.batch {
			break
		}
	}
	if o.verify {
		fmt.Fprintf(stdout, "%s: %d rows; every value decrypted (-verify), counted under the key its header names\n", o.table, rows)
	} else {
		fmt.Fprintf(stdout, "%s: %d rows; key IDs read from the values' headers only: nothing was decrypted, so an altered or moved value counts under its header's key (-verify decrypts)\n", o.table, rows)
	}
	counts := make([]count, 0, len(perKey))
	for k := range perKey {
		counts = append(counts, k)
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].id != counts[j].id {
			return counts[i].id.String() < counts[j].id.String()
		}
		return counts[i].keyID < counts[j].keyID
	})
	var left int64
	for _, k := range counts {
		note := ""
		ks, err := store.Keyset(ctx, k.id.Name, k.id.Kind)
		switch {
		case err != nil:
			note = fmt.Sprintf(" (keyset not readable: %v)", err)
			left += perKey[k]
		case ks.PrimaryKeyID() == k.keyID:
			note = " (primary)"
		default:
			if err := ks.CheckKeyID(k.keyID); err != nil {
				note = fmt.Sprintf(" (%v)", err)
			}
			left += perKey[k]
		}
		fmt.Fprintf(stdout, "  %s/%d: %d values%s\n", k.id, k.keyID, perKey[k], note)
	}
	for _, name := range sortedKeys(plain) {
		fmt.Fprintf(stdout, "  %s: %d values not protected (plaintext; rewrap with :migrate protects them)\n", name, plain[name])
		left += plain[name]
	}
	for _, name := range sortedKeys(subject) {
		fmt.Fprintf(stdout, "  %s: %d values sealed under data subjects' keys, which tillid rewrap does not reach (the application's Protector.Rewrap does; tillid forget erases them)\n", name, subject[name])
	}
	for _, c := range o.vault {
		if n := vault[c.name]; n > 0 {
			fmt.Fprintf(stdout, "  %s: %d vault tokens of domain %s; their values are in the vault (tillid vault rewrap %s)\n", c.name, n, c.col.Domain, c.col.Domain)
		}
	}
	if o.verify {
		if failed > maxListed {
			fmt.Fprintf(stdout, "  ... and %d more\n", failed-maxListed)
		}
		fmt.Fprintf(stdout, "verify: %d values failed\n", failed)
	}
	return left + failed, nil
}

// verifyValue opens the value of column spec in r, stored under keyID: it
// decrypts a ciphertext or an FF1 token, and recomputes an index from its
// source under the index's own key.
func (e *engine) verifyValue(ctx context.Context, spec columnSpec, r row, keyID uint32) error {
	v := r.vals[e.pos[spec.name]].String
	if spec.source == "" {
		_, err := e.p.RevealStored(ctx, spec.col, recordIDOf(spec, r), v)
		return err
	}
	pt, ok, err := e.sourceOf(ctx, spec, r)
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		return nil // the source fails, and is listed as its own column
	case !ok:
		return fmt.Errorf("an index beside a NULL source %s", spec.source)
	}
	want, err := e.p.IndexStored(ctx, spec.col, keyID, pt)
	if err != nil {
		return err
	}
	if want != v {
		return fmt.Errorf("the index does not match its source %s", spec.source)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
