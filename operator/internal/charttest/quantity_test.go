package charttest

import "k8s.io/apimachinery/pkg/api/resource"

func builderQ(s string) resource.Quantity { return resource.MustParse(s) }
