package tag_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/tag"
)

func TestCheckStatic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantText string // "" means valid
		reason   string
	}{
		{name: "encrypt", in: "encrypt,class=contact,key=crm,aad=ID,maxlen=64,migrate"},
		{name: "deterministic", in: "deterministic,normalize=nfkc+lower,lowcardinality"},
		{name: "index", in: "index=Name+Born,normalize=email,bits=12,part=first3"},
		{name: "pseudonym", in: "pseudonym,normalize=email,bits=64"},
		{name: "hash alias", in: "hash,key=x", reason: "the deprecated alias keeps working"},
		{name: "tokenize", in: "tokenize=card,format=card-6-4,aad=ID,migrate"},
		{name: "redact", in: "redact,class=health"},
		{name: "skip", in: "-"},
		{name: "unknown action", in: "encrpyt", wantText: `unknown action "encrpyt"`},
		{name: "index without source", in: "index", wantText: "needs its source field"},
		{name: "index repeated source", in: "index=A+A", wantText: "distinct"},
		{name: "tokenize without domain", in: "tokenize", wantText: "needs its domain"},
		{name: "action value", in: "encrypt=yes", wantText: "takes no value"},
		{name: "option not accepted", in: "redact,key=x", wantText: `unknown option "key" for redact`},
		{name: "flag with value", in: "encrypt,migrate=yes", wantText: "takes no value"},
		{name: "option without value", in: "encrypt,key", wantText: "needs a value"},
		{name: "class", in: "encrypt,class=secret", wantText: "unknown class"},
		{name: "key name", in: "encrypt,key=Upper", wantText: "key=Upper"},
		{name: "maxlen", in: "encrypt,maxlen=-3", wantText: "maxlen"},
		{name: "bits too many", in: "index=A,bits=257", wantText: "bits=257"},
		{name: "bits zero", in: "pseudonym,bits=0", wantText: "bits=0"},
		{name: "normalize rule", in: "deterministic,normalize=lower+upper", wantText: `unknown rule "upper"`},
		{name: "part", in: "index=A,part=first0", wantText: "part=first0"},
		{name: "part leading zero", in: "index=A,part=last07", wantText: "part=last07", reason: "one spelling per value"},
		{name: "mask and view", in: "encrypt,mask=email,view=support:mask+billing:plain+audit:hide"},
		{name: "mask on redact", in: "redact,mask=text"},
		{name: "mask with processing", in: "encrypt,mask=email,view=support:mask,purpose=billing,basis=contract,retain=2y"},
		{name: "mask kind", in: "encrypt,mask=creditcard", wantText: `unknown mask "creditcard"`},
		{name: "mask on index", in: "index=A,mask=text", wantText: `unknown option "mask" for index`},
		{name: "view needs mask", in: "tokenize=card,view=support:mask", wantText: "needs mask=<kind>"},
		{name: "view sight", in: "encrypt,view=support:masked", wantText: "view=support:masked"},
		{name: "view role", in: "encrypt,view=Support:plain", wantText: "view=Support:plain"},
		{name: "view twice", in: "encrypt,view=a:plain+a:hide", wantText: "each role once"},
		{name: "view no sight", in: "encrypt,view=support", wantText: "view=support"},
		{name: "subject", in: "subject,basis=contract,retain=2y"},
		{name: "subject with purpose", in: "subject,purpose=billing", wantText: "drop purpose= here", reason: "no purpose's key seals the subject ID"},
		{name: "tokenize with subject", in: "tokenize=card,subject=Sender", reason: "a record of several people names whose token it is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parsed, err := tag.Parse(tt.in)
			require.NoError(t, err)
			err = tag.CheckStatic(parsed)
			if tt.wantText == "" {
				assert.NoError(t, err, tt.reason)
				return
			}
			require.ErrorIs(t, err, tag.ErrSchema)
			assert.Contains(t, err.Error(), tt.wantText, tt.reason)
		})
	}
}

func TestSchemaCopies(t *testing.T) {
	t.Parallel()
	c := tag.Classes()
	require.NotEmpty(t, c)
	c[0] = "changed"
	assert.NotEqual(t, "changed", tag.Classes()[0], "Classes must return a copy")

	a := tag.Actions()
	require.NotEmpty(t, a[0].Options)
	a[0].Options[0] = "changed"
	assert.NotEqual(t, "changed", tag.Actions()[0].Options[0], "Actions must return a copy")

	hash, ok := tag.LookupAction("hash")
	require.True(t, ok)
	assert.Equal(t, "pseudonym", hash.AliasOf)
}

func TestParsePart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want tag.Part
	}{
		{"domain", tag.Part{Kind: tag.PartDomain}},
		{"local", tag.Part{Kind: tag.PartLocal}},
		{"first1", tag.Part{Kind: tag.PartFirst, N: 1}},
		{"last64", tag.Part{Kind: tag.PartLast, N: 64}},
	}
	for _, tt := range tests {
		got, err := tag.ParsePart(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, "ParsePart(%q)", tt.in)
	}
	for _, bad := range []string{"first", "last65", "first+1", "middle"} {
		_, err := tag.ParsePart(bad)
		assert.Error(t, err, "ParsePart(%q)", bad)
	}
}
