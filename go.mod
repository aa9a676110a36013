module github.com/libgnsq/libgnsq

go 1.22

require (
	github.com/golang/snappy v1.0.0
	github.com/stretchr/testify v1.11.1
)
