module github.com/tillid/tillid/integrations/zap

go 1.26.0

replace github.com/tillid/tillid => ../..

require (
	github.com/stretchr/testify v1.12.1
	github.com/tillid/tillid v0.0.0-00010101000000-000000000000
	go.uber.org/zap v1.28.0
)

require (
	github.com/tink-crypto/tink-go/v2 v2.9.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
