module github.com/tillid/tillid/examples

go 1.26.0

require (
	github.com/brianvoe/gofakeit/v7 v7.18.2
	github.com/glebarez/sqlite v1.11.0
	github.com/stretchr/testify v1.12.1
	github.com/tillid/tillid v0.0.0-00010101000000-000000000000
	github.com/tillid/tillid/integrations/gorm v0.0.0-00010101000000-000000000000
	gorm.io/gorm v1.31.2
	modernc.org/sqlite v1.62.0
)

require (
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/glebarez/go-sqlite v1.21.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jinzhu/inflection v1.0.0 // indirect
	github.com/jinzhu/now v1.1.5 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/tink-crypto/tink-go/v2 v2.9.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

replace (
	github.com/tillid/tillid => ../
	github.com/tillid/tillid/integrations/gorm => ../integrations/gorm
	github.com/tillid/tillid/internal/pgtest => ../internal/pgtest
)
