{
  # Dev shell and apps for Nix users. `nix develop` gives every tool the project calls; `nix run .#train`
  # and `nix run .#test` run the Makefile's targets from the checkout (make sets up the Python venv itself:
  # torch 2.13.0 and TorchTitan 0.2.2 come from pip, pinned in pyproject.toml / constraints.txt, not Nix).
  # nixpkgs follows a release branch; the first `nix flake lock` on a networked machine pins its commit
  # in flake.lock (none is committed: no machine that wrote this file could reach GitHub).
  description = "Primus TorchTitan pre-training pipeline: dev shell and apps (train, test)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Everything the Makefile, the Snakefile, the tests and the container stage call.
      tools = pkgs: [
        pkgs.python311
        pkgs.python311Packages.pip
        pkgs.gnumake
        pkgs.git
        pkgs.snakemake
        pkgs.slurm
        pkgs.munge
        pkgs.podman
        pkgs.buildah
        pkgs.runc
        pkgs.fuse-overlayfs
        pkgs.mmdebstrap
        pkgs.ruff
        pkgs.hadolint
      ];

      # An app that runs `make TARGET` in the current folder (the checkout) with the tools on PATH.
      makeApp = pkgs: target:
        let
          script = pkgs.writeShellApplication {
            name = "primus-${target}";
            runtimeInputs = tools pkgs;
            text = ''
              if [ ! -f Makefile ] || [ ! -d primus ]; then
                echo "primus-${target}: run this from the project checkout (the folder with Makefile)" >&2
                exit 2
              fi
              exec make ${target} "$@"
            '';
          };
        in {
          type = "app";
          program = "${script}/bin/primus-${target}";
        };
    in {
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = tools pkgs;
          # The project's podman storage and runtime settings (see primus/containers/engine.py) apply
          # automatically; nothing to export here. The venv is made by `make setup`.
          shellHook = ''
            echo "primus dev shell: make setup | make train | make test"
          '';
        };
      });

      apps = forAllSystems (pkgs: {
        train = makeApp pkgs "train";
        test = makeApp pkgs "test";
        default = makeApp pkgs "train";
      });
    };
}
