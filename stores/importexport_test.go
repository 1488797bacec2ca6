package stores_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

// A service's SQL store (opened without WithCreateMissing) takes an
// import, which every instance on the table then reads; two instances
// importing one name at once store one keyset; Import and Export are
// audited, and an export under a hanging KMS is ErrKMSUnavailable, reported
// as a KMS failure and not as an export.
func TestSQLImportExportAudit(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek, err := keys.NewLocalKEK(newKEK(t))
		require.NoError(t, err)
		log := &piitest.AuditRecorder{}
		s, err := db.openStrict(t, kek, keys.WithAuditor(log))
		require.NoError(t, err)
		other, err := db.openStrict(t, kek)
		require.NoError(t, err)

		handles := make([]*keyset.Handle, 2)
		for i := range handles {
			handles[i], err = keyset.NewHandle(aead.AES256GCMKeyTemplate())
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, st := range []*keys.SQLStore{s, other} {
			wg.Go(func() { _, errs[i] = st.Import(ctx, "legacy", keys.KindAEAD, handles[i]) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, won, "both concurrent imports succeeded")
				won = i
				continue
			}
			assert.ErrorIs(t, err, keys.ErrKeysetExists, "the losing concurrent import")
		}
		require.NotEqual(t, -1, won, "no concurrent import succeeded: %v", errs)
		for _, st := range []*keys.SQLStore{s, other} {
			ks, err := st.Keyset(ctx, "legacy", keys.KindAEAD)
			require.NoError(t, err)
			assert.Equal(t, handles[won].KeysetInfo().GetPrimaryKeyId(), ks.PrimaryKeyID(), "an instance reads another keyset than the one imported")
		}

		_, err = s.Export(ctx, "legacy", keys.KindAEAD, escrowKEK(t), []byte("escrow"))
		require.NoError(t, err)
		hanging := newCountingKEK(t)
		hanging.hang.Store(true)
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.Export(c, "legacy", keys.KindAEAD, hanging, nil)
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "Export under a hanging KMS")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second, "Export did not keep the caller's deadline")

		want := []string{"keyset.exported", "kms.failure"}
		if won == 0 {
			want = append([]string{"keyset.imported"}, want...)
		}
		assert.Equal(t, want, log.Types(), "the audit events of the import (when this instance's won) and the exports")
		for _, e := range log.Events() {
			assert.Equal(t, keys.KeysetID{Name: "legacy", Kind: keys.KindAEAD}, e.Keyset)
			if e.Type == keys.EventKMSFailure {
				assert.True(t, errors.Is(e.Err, keys.ErrKMSUnavailable), "the failure event's error: %v", e.Err)
			}
		}
	})
}

// escrowKEK is a fresh local KEK for an escrow.
func escrowKEK(t *testing.T) tink.AEAD {
	k, err := keys.NewLocalKEK(newKEK(t))
	require.NoError(t, err)
	return k
}
