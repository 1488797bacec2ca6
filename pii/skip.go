package pii

// skipAction, written "-", marks a field that is not personal data: it is
// neither transformed nor walked into, and Redacted shows it. It has no
// check, so the plan leaves the field out. Forget and Erase leave it:
// it is not personal data.
var skipAction = &action{
	name:   "-",
	source: sourcePlain,
}
