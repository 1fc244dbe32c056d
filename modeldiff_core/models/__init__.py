"""Models: a spec names one (`spec`), `loading` puts it on a device and caches it, `organisms`
builds the built-in tiny models, `finetune` trains a LoRA copy of one."""
