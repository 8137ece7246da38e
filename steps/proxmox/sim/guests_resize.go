package sim

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Disk resize: PUT .../resize.

var resizeRE = regexp.MustCompile(`^(\+)?(\d+(\.\d+)?)([KMGT])?$`)

// hResize is PUT .../resize (a "resize" task in PVE 9): grow only.
func hResize(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		if !resizeRE.MatchString(c.params["size"]) {
			return nil, paramErr(map[string]string{"size": "value does not match the regex pattern"})
		}
		vmid, disk, sizeStr := g.VMID, c.params["disk"], c.params["size"]
		skiplock := c.bool("skiplock")
		upid := s.startGuestTask(c, g, "resize", !skiplock, func(t *task, g *guest) (int, error) {
			val, ok := g.Conf[disk]
			if !ok {
				return 0, fmt.Errorf("disk '%s' does not exist", disk)
			}
			if strings.Contains(val, "media=cdrom") {
				return 0, errors.New("you can't resize a cdrom")
			}
			volid, size := diskVolume(val)
			stName, volName, _ := strings.Cut(volid, ":")
			st := s.st.Nodes[g.Node].Storages[stName]
			if st != nil && st.Volumes[volName] != nil {
				size = st.Volumes[volName].Size
			}
			m := resizeRE.FindStringSubmatch(sizeStr)
			f, _ := strconv.ParseFloat(m[2], 64)
			newSize := scaleSize(f, m[4])
			if m[1] == "+" {
				newSize += size
			}
			if newSize < size {
				// qemu-server: "shrinking disks is not supported";
				// pve-container: "unable to shrink disk size".
				if typ == typeLXC {
					return 0, errors.New("unable to shrink disk size")
				}
				return 0, errors.New("shrinking disks is not supported")
			}
			if newSize == size {
				if typ == typeLXC {
					return 0, errors.New("disk is already at specified size")
				}
				return 0, nil
			}
			if st != nil {
				if avail := st.Total - st.used(); newSize-size > avail {
					return 0, fmt.Errorf("unable to resize %s on storage '%s': not enough free space", disk, stName)
				}
				if v := st.Volumes[volName]; v != nil {
					v.Size = newSize
				}
			}
			t.logf("update %s %d: resize --disk %s --size %s", typeWord(typ), vmid, disk, sizeStr)
			g.Conf[disk] = setDiskSize(val, newSize)
			return 0, nil
		})
		return upid, nil
	})
}
