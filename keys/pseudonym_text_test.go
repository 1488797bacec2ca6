package keys_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

func TestPseudonymJSONIsHex(t *testing.T) {
	t.Parallel()
	var p keys.Pseudonym
	for i := range p {
		p[i] = byte(i * 17)
	}
	b, err := json.Marshal(struct{ P keys.Pseudonym }{p})
	require.NoError(t, err)
	assert.Equal(t, `{"P":"`+p.String()+`"}`, string(b), "json.Marshal of a pseudonym")

	var back struct{ P keys.Pseudonym }
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, p, back.P)

	for _, bad := range []string{`{"P":"abc"}`, `{"P":"` + strings.Repeat("zz", keys.PseudonymSize) + `"}`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &back), "json.Unmarshal(%s)", bad)
	}
}
