package dbcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

func (c *checker) checkCosignatures() {
	if c.cosigs == nil {
		return
	}
	// Cosigner verifier keys by name, from every agreement of the log:
	// the mediators' and the external C2SP witnesses' (the primary stores
	// what a witness returns under its name).
	keys := map[string][]string{}
	for _, ag := range c.history {
		all := ag.CosignerKeys()
		for _, w := range ag.Witnesses {
			all["witness "+w.Name] = append(all["witness "+w.Name], w.Key)
		}
		for _, ks := range all {
			for _, k := range ks {
				name, _, _ := strings.Cut(k, "+")
				if !slices.Contains(keys[name], k) {
					keys[name] = append(keys[name], k)
				}
			}
		}
	}
	_ = c.cosigs.ForEach(func(k, v []byte) error {
		c.rep.Cosignatures++
		if len(k) <= 8 {
			c.damage(store.BucketCosignatures, fmt.Sprintf("%x", k), "key is not an 8-byte size and a cosigner name")
			return nil
		}
		size, name := binary.BigEndian.Uint64(k[:8]), string(k[8:])
		key := fmt.Sprintf("%d/%s", size, name)
		var cp []byte
		if c.checkpoints != nil {
			cp = c.checkpoints.Get(k[:8])
		}
		if cp == nil {
			c.damage(store.BucketCosignatures, key, "no checkpoint of size %d is stored", size)
			return nil
		}
		ks := keys[name]
		if len(ks) == 0 {
			c.damage(store.BucketCosignatures, key, "no agreement of the log has a cosigner key named %q", name)
			return nil
		}
		var errs []error
		for _, vk := range ks {
			_, err := tlog.VerifyCosignature(cp, string(v), vk)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		c.damage(store.BucketCosignatures, key, "%v", errors.Join(errs...))
		return nil
	})
}
