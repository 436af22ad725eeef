package server

import (
	"fmt"
	"slices"

	"github.com/mvm-exchange/mvm/internal/service"
)

// withOperators returns the service options with the configured operator
// identities added, each checked.
func withOperators(o service.Options, operators []string) (service.Options, error) {
	for _, uri := range operators {
		if err := service.CheckOperator(uri); err != nil {
			return o, fmt.Errorf("--operator: %w", err)
		}
	}
	o.Operators = slices.Concat(o.Operators, operators)
	return o, nil
}
