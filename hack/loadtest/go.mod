module github.com/tera-health/tera/hack/loadtest

go 1.26.0
