package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// This file is the vault half of tillid forget: it deletes a subject's
// tokens from the token vault, as pii.Protector.Forget does through the
// tokenizers it was built with (WithVault).

// vaultEraser deletes subjects' tokens from each domain of one vault.
type vaultEraser struct {
	domains    []string
	tokenizers []*tokenize.Tokenizer
}

// openVaultEraser opens the vault of -vault-db and checks, before any key
// is destroyed, that each domain's PRF keyset (which finds a subject's
// tokens) exists and has no disabled key: with one, Tokenizer.DeleteSubject
// could not find every token and the erasure would stop half done. The
// domains are those of -vault-domain, or every domain the vault holds.
func openVaultEraser(ctx context.Context, provider keys.Provider, o *erasureOpts) (*vaultEraser, func(), error) {
	db, err := openExisting(ctx, o.vaultDB)
	if err != nil {
		return nil, nil, err
	}
	if err := tableExists(ctx, db, "tillid_tokens"); err != nil {
		db.close()
		return nil, nil, fmt.Errorf("-vault-db %s holds no token vault (%v): check the DSN", target(o.vaultDB), err)
	}
	vault, closeVault, err := openVault(ctx, db, o.vaultDB)
	if err != nil {
		db.close()
		return nil, nil, err
	}
	closeAll := func() { closeVault(); db.close() }
	domains := slices.Clone(o.vaultDomains)
	if len(domains) == 0 {
		if domains, err = vaultDomains(ctx, db); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	slices.Sort(domains)
	v := &vaultEraser{domains: slices.Compact(domains)}
	for _, d := range v.domains {
		keyName := o.vaultKeyName
		if keyName == "" {
			keyName = "tokenize-" + d
		}
		if err := checkVaultPRF(ctx, provider, d, keyName); err != nil {
			closeAll()
			return nil, nil, err
		}
		t, err := tokenize.New(provider, vault, d, tokenize.ModeRandom, tokenize.WithKeyName(keyName))
		if err != nil {
			closeAll()
			return nil, nil, usagef("-vault-domain %q: %v", d, err)
		}
		v.tokenizers = append(v.tokenizers, t)
	}
	return v, closeAll, nil
}

// vaultDomains returns the domains the vault holds tokens of.
func vaultDomains(ctx context.Context, db *database) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT domain FROM tillid_tokens`)
	if err != nil {
		return nil, fmt.Errorf("reading the token vault's domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// checkVaultPRF returns an error unless keyName's PRF keyset exists and has
// no disabled key.
func checkVaultPRF(ctx context.Context, provider keys.Provider, domain, keyName string) error {
	ks, err := provider.Keyset(ctx, keyName, keys.KindPRF)
	if errors.Is(err, keys.ErrKeyNotFound) {
		return fmt.Errorf("vault domain %s: no PRF keyset %s, which finds a subject's tokens; name the domain's keyset with -vault-domain %s -vault-key-name NAME, or leave the domain out with -vault-domain: %w", domain, keyName, domain, err)
	}
	if err != nil {
		return fmt.Errorf("vault domain %s: %w", domain, err)
	}
	var disabled []uint32
	for _, k := range ks.Keys() {
		if k.Status == keyset.Disabled {
			disabled = append(disabled, k.KeyID)
		}
	}
	if len(disabled) > 0 {
		return fmt.Errorf("vault domain %s: PRF keys %v of keyset %s are disabled, so tokens indexed under them could not be found and deleted; enable them (tillid keys enable) and run again; nothing was erased: %w", domain, disabled, keyName, keys.ErrKeyDisabled)
	}
	return nil
}

// deleteSubject deletes the subject's tokens of every domain and returns
// how many; on an error, those deleted before it.
func (v *vaultEraser) deleteSubject(ctx context.Context, s subjectID) (int64, error) {
	var total int64
	for i, t := range v.tokenizers {
		n, err := t.DeleteSubject(ctx, s.id)
		total += n
		if err != nil {
			return total, fmt.Errorf("deleting the tokens of vault domain %s: %w", v.domains[i], redactSubject(err, s.id))
		}
	}
	return total, nil
}
