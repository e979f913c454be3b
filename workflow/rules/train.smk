# Train from the frozen bundle (resumes from its checkpoint after an interruption). Resources are what the
# SLURM profile requests; one node runs primus-cli train directly, several run one per node through srun.
# TensorBoard/W&B settings are not part of the bundle (no retrain for them): they are passed at launch.
rule train_model:
    input:
        frozen=f"{WORK}/{{bundle_hash}}/frozen",
    output:
        done=f"{BUNDLE}/{layout.DONE_PATH}",
    log:
        f"{BUNDLE}/{layout.TRAIN_DIR}/{layout.TRAIN_RULE_LOG}",
    conda:
        "../envs/primus.yaml"
    threads: lambda wc: run_of_bundle(wc).resources.cpus_per_task
    resources:
        **resource_lookups(run_of_bundle),
    params:
        command=lambda wc, output: train_shell(
            Path(output.done).parents[1],
            run_of_bundle(wc).resources,
            primus_cli=CLI,
            train_args=runtime_train_args(PLAN.runtime, config["container_variant"])
            + observability_train_args(run_of_bundle(wc).config),
        ),
    # SLURM signals every process of the job step (SIGTERM at the time limit or on preemption, SIGUSR1
    # before it): the shell and tee ignore them so training can checkpoint, stop and requeue the job.
    shell:
        "trap '' TERM USR1; ( {params.command} ) 2>&1 | tee {log:q}"
