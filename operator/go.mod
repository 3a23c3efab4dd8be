module github.com/tera-health/tera/operator

go 1.26.0
