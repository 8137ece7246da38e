package sim

import (
	"errors"
	"fmt"
)

// Guest power and deletion: status/start, stop, shutdown, reboot, reset
// and DELETE of a guest, each a task.

// startGuest applies pending changes and starts the guest; the memory check
// is the simulator's stand-in for a start that cannot allocate guest RAM.
// Call with s.mu held.
func (s *Server) startGuest(t *task, g *guest) error {
	if g.isTemplate() {
		if g.Type == typeQemu {
			return errors.New("you can't start a VM if it's a template")
		}
		return errors.New("you can't start a CT if it's a template")
	}
	n := s.st.Nodes[g.Node]
	want := memoryMiB(g.Conf)
	if g.Pending["memory"] != "" {
		want = memoryMiB(map[string]string{"memory": g.Pending["memory"]})
	}
	if want<<20 > n.Memory {
		if g.Type == typeQemu {
			t.logf("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory")
		}
		return fmt.Errorf("start failed: %s %d needs %d MiB of memory, node '%s' has %d MiB", typeWord(g.Type), g.VMID, want, n.Name, n.Memory>>20)
	}
	if err := s.applyPending(g, nil); err != nil {
		return err
	}
	g.Running = true
	g.StartedAt = s.now().Unix()
	if g.Type == typeQemu {
		g.CloudInit = cloudInitView(g.Conf)
	}
	return nil
}

func hPower(typ, action string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		vmid := g.VMID
		// Checks PVE makes before forking the worker
		// (pve-container API2/LXC/Status.pm, qemu-server API2/Qemu.pm).
		switch {
		case typ == typeLXC && action == "start" && g.Running:
			return nil, fail("CT %d already running", vmid)
		case typ == typeLXC && (action == "stop" || action == "shutdown") && !g.Running:
			return nil, fail("CT %d not running", vmid)
		case (action == "reboot" || action == "reset") && !g.Running:
			return nil, fail("VM %d not running", vmid)
		}
		skiplock := c.bool("skiplock")
		upid := s.startGuestTask(c, g, taskPrefix(typ)+action, !skiplock, func(t *task, g *guest) (int, error) {
			switch action {
			case "start":
				if g.Running {
					return 0, fmt.Errorf("VM %d already running", vmid)
				}
				return 0, s.startGuest(t, g)
			case "stop":
				g.Running, g.StartedAt = false, 0
			case "shutdown":
				if !g.Running {
					return 0, fmt.Errorf("VM %d not running", vmid)
				}
				g.Running, g.StartedAt = false, 0
			case "reboot":
				if !g.Running {
					return 0, fmt.Errorf("VM %d not running", vmid)
				}
				g.Running = false
				return 0, s.startGuest(t, g)
			case "reset":
				g.StartedAt = s.now().Unix()
			}
			return 0, nil
		})
		return upid, nil
	})
}

func hGuestDelete(typ string) handlerFunc {
	return withGuest(typ, func(s *Server, c *call, g *guest) (any, *apiError) {
		vmid := g.VMID
		// early checks (qemu-server destroy_vm / pve-container destroy_vm).
		if g.Conf["protection"] == "1" {
			return nil, fail("can't remove %s %d - protection mode enabled", typeWord(typ), vmid)
		}
		force := c.bool("force")
		if g.Running && typ == typeQemu {
			return nil, fail("VM %d is running - destroy failed", vmid)
		}
		if g.Running && !force {
			return nil, fail("unable to destroy CT %d - container is running", vmid)
		}
		unref, skiplock := c.bool("destroy-unreferenced-disks"), c.bool("skiplock")
		upid := s.startGuestTask(c, g, taskPrefix(typ)+"destroy", !skiplock, func(t *task, g *guest) (int, error) {
			if g.Running {
				t.logf("forced to stop CT %d before destroying!", vmid)
				g.Running = false
			}
			if err := s.freeVolumes(g, g.Conf); err != nil {
				return 0, err
			}
			if unref {
				for _, st := range s.st.Nodes[g.Node].Storages {
					for name, v := range st.Volumes {
						if v.VMID == vmid && (v.Content == "images" || v.Content == "rootdir") {
							t.logf("destroying unreferenced disk %s:%s", st.Name, name)
							delete(st.Volumes, name)
						}
					}
				}
			}
			if c.bool("purge") {
				t.logf("purging %s %d from related configurations..", typeWord(typ), vmid)
			}
			delete(s.st.Guests, vmid)
			return 0, nil
		})
		return upid, nil
	})
}
