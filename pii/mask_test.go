package pii_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/pii"
)

func TestMaskKnownAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, kind, in, want, reason string
	}{
		{"email", "email", "ada@example.com", "a•••@example.com", ""},
		{"email unicode", "email", "ærlig@example.dk", "æ•••@example.dk", "the first character, not the first byte"},
		{"email short local", "email", "al@example.com", "•••@example.com", "a local part under three characters is hidden whole"},
		{"email no at", "email", "ada.example.com", "•••", "malformed: nothing shown"},
		{"email two at", "email", "a@b@example.com", "•••", ""},
		{"email empty local", "email", "@example.com", "•••", ""},
		{"email empty domain", "email", "ada@", "•••", ""},
		{"email space", "email", "ada lovelace@example.com", "•••", ""},
		{"email invalid utf8", "email", "a\xffa@example.com", "•••", ""},
		{"phone danish", "phone", "+45 12 34 56 78", "•••5678", "10 digits: the last four"},
		{"phone eight digits", "phone", "12345678", "•••78", "under 10 digits: the last two"},
		{"phone parens", "phone", "(555) 123-4567", "•••4567", ""},
		{"phone short", "phone", "12345", "•••", "too short to show a digit"},
		{"phone letters", "phone", "call 12345678", "•••", ""},
		{"phone too long", "phone", "1234567890123456", "•••", "over E.164's 15 digits"},
		{"card", "card", "4929 1300 0000 3749", "•••• •••• •••• 3749", ""},
		{"card dashes", "card", "4929-1300-0000-3749", "•••• •••• •••• 3749", ""},
		{"card 6-4", "card-6-4", "4929130000003749", "492913••••••3749", ""},
		{"card 6-4 amex", "card-6-4", "378282246310005", "378282•••••0005", "15 digits"},
		{"card 6-4 short", "card-6-4", "4111 1111 1111", "•••• •••• •••• 1111", "12 digits: six and four would leave two hidden"},
		{"card 11 digits", "card", "41111111111", "•••", ""},
		{"card 20 digits", "card", "41111111111111111111", "•••", ""},
		{"card letters", "card", "4929 1300 0000 37x9", "•••", ""},
		{"iban", "iban", "DK50 0040 0440 1162 43", "DK•• •••• •••• 6243", ""},
		{"iban gb lower", "iban", "gb82west12345698765432", "GB•• •••• •••• 5432", ""},
		{"iban bad check", "iban", "DK5100400440116243", "•••", "check digits do not verify"},
		{"iban short", "iban", "DK50004004", "•••", ""},
		{"iban symbol", "iban", "DK50-0040-0440-1162-43", "•••", ""},
		{"cpr", "cpr", "010190-1234", "••••••-••••", "no digit shown"},
		{"cpr no dash", "cpr", "0101901234", "••••••-••••", ""},
		{"cpr bad day", "cpr", "320190-1234", "•••", ""},
		{"cpr bad month", "cpr", "011390-1234", "•••", ""},
		{"cpr nine digits", "cpr", "010190-123", "•••", ""},
		{"ssn", "ssn", "123-45-6789", "•••-••-6789", ""},
		{"ssn plain digits", "ssn", "123456789", "•••-••-6789", ""},
		{"ssn area 000", "ssn", "000-45-6789", "•••", ""},
		{"ssn area 9xx", "ssn", "912-45-6789", "•••", ""},
		{"ssn serial 0000", "ssn", "123-45-0000", "•••", ""},
		{"name", "name", "Ada King Lovelace", "A. K. L.", ""},
		{"name unicode", "name", "Søren Ærø", "S. Æ.", ""},
		{"name five words", "name", "A B C D E", "A. B. C. D.", "at most four initials"},
		{"name digits", "name", "1234", "•••", ""},
		{"first", "first", "Lovelace", "L•••", ""},
		{"first two", "first", "Al", "•••", "under three characters: nothing"},
		{"text", "text", "anything at all", "•••", ""},
		{"year", "year", "1815-12-10", "1815", ""},
		{"month rfc3339", "month", "1815-12-10T08:00:00Z", "1815-12", ""},
		{"year bad", "year", "1815-13-10", "•••", ""},
		{"year junk after", "year", "1815-12-10x", "•••", ""},
		{"empty", "card", "", "", "an empty value stays empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pii.Mask(tt.kind, tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "Mask(%q, %q); %s", tt.kind, tt.in, tt.reason)
		})
	}
}

func TestMaskUnknownKind(t *testing.T) {
	t.Parallel()
	_, err := pii.Mask("creditcard", "4111111111111111")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "4111")
}

// Every kind the shared schema accepts has a mask, and no mask panics or
// shows more than a few characters of an input it did not recognise, for
// inputs of any length.
func TestMaskEveryKindAnyInput(t *testing.T) {
	t.Parallel()
	inputs := []string{"x", "@", "ab@", strings.Repeat("9", 1000), strings.Repeat("a@", 500), "\xff\xfe", "  ", "Ǆ", "0000-00-00"}
	for i := range 40 {
		inputs = append(inputs, strings.Repeat("7", i), strings.Repeat("é", i))
	}
	for _, kind := range tag.MaskKinds() {
		for _, in := range inputs {
			got, err := pii.Mask(kind, in)
			require.NoError(t, err, kind)
			assert.True(t, utf8.ValidString(got), "Mask(%q, %q) = %q is not UTF-8", kind, in, got)
			assert.LessOrEqual(t, len(got), len(in)+len("•••• •••• •••• "), "Mask(%q, %q) = %q", kind, in, got)
		}
	}
}

type maskedCustomer struct {
	Email string               `pii:"encrypt,class=contact,mask=email"`
	Card  string               `pii:"tokenize=card,class=financial,mask=card"`
	Born  pii.Value[time.Time] `pii:"encrypt,mask=year"`
	Count pii.Value[int]       `pii:"encrypt,mask=text"`
	Tags  []string             `pii:"redact,mask=first"`
	Note  *string              `pii:"encrypt,mask=name"`
}

func TestMaskTags(t *testing.T) {
	t.Parallel()
	require.NoError(t, pii.Validate(maskedCustomer{}))
	require.NoError(t, pii.Validate(struct {
		EmailVerifiedAt pii.Value[time.Time] `pii:"encrypt,mask=year"`
	}{}), "a date named after an email address takes a date mask")
	tests := []struct {
		name    string
		v       any
		wantErr string
	}{
		{"card on contact", struct {
			X string `pii:"encrypt,class=contact,mask=card"`
		}{}, "mask=card does not fit class=contact"},
		{"iban on contact", struct {
			X string `pii:"encrypt,class=contact,mask=iban"`
		}{}, "mask=iban does not fit class=contact"},
		{"cpr on contact", struct {
			X string `pii:"deterministic,class=contact,mask=cpr"`
		}{}, "mask=cpr does not fit class=contact"},
		{"card on email field", struct {
			Email string `pii:"encrypt,mask=card"`
		}{}, "use mask=email"},
		{"card on normalised email", struct {
			Login string `pii:"deterministic,normalize=email,mask=phone"`
		}{}, "use mask=email"},
		{"email on int", struct {
			X pii.Value[int] `pii:"encrypt,mask=email"`
		}{}, "mask=email does not fit pii.Value[int]; use mask=text"},
		{"email on time", struct {
			X pii.Value[time.Time] `pii:"encrypt,mask=email"`
		}{}, "use mask=year, month or text"},
		{"year on redact int", struct {
			X int `pii:"redact,mask=year"`
		}{}, "mask=year does not fit int"},
		{"unknown kind", struct {
			X string `pii:"encrypt,mask=credit"`
		}{}, `unknown mask "credit"`},
		{"mask on index", struct {
			X string
			I string `pii:"index=X,mask=text"`
		}{}, `unknown option "mask" for index`},
		{"view mask without mask", struct {
			X string `pii:"encrypt,view=support:mask"`
		}{}, "needs mask=<kind>"},
		{"view bad sight", struct {
			X string `pii:"encrypt,view=support:show"`
		}{}, "sight plain, mask or hide"},
		{"view twice", struct {
			X string `pii:"encrypt,mask=text,view=support:mask+support:plain"`
		}{}, "each role once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := pii.Validate(tt.v)
			require.ErrorIs(t, err, pii.ErrInvalidTag)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.ErrorContains(t, err, "struct.", "the error names the field")
		})
	}
}
