package sso_test

import (
	"errors"
	"fmt"

	"github.com/aulacapture/aula/server/sso"
)

func ExampleParseFlowCookie() {
	c, ok := sso.ParseFlowCookie("0193a5b2-7c1e-7d3f-8a9b-0123456789ab.7Yq3c1lE0Q4h8kR2vTn5sWx9zA6bC0dF1gH2jK3mN4o")
	fmt.Println(ok, c.TenantID)
	_, ok = sso.ParseFlowCookie("../../tenant.secret")
	fmt.Println(ok)
	// Output:
	// true 0193a5b2-7c1e-7d3f-8a9b-0123456789ab
	// false
}

func ExampleConfig_Validate() {
	c := sso.Config{Issuer: "http://login.uni.example", ClientID: "aula", GroupClaim: "groups"}.Normalized()
	err := c.Validate()
	fmt.Println(errors.Is(err, sso.ErrConfig))
	fmt.Println(err)
	c.Issuer = "https://login.uni.example/realms/main"
	fmt.Println(c.Validate(), c.Scopes)
	// Output:
	// true
	// bad single sign-on configuration: issuer: must be https (http only for a provider on a loopback address)
	// <nil> [openid email profile]
}
