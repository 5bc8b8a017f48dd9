/* models.c - the one name table per device-model enum of vm.h: the VMX
 * spelling (scsiN.virtualDev, ethernetN.virtualDev) and the OVF
 * ResourceSubType of each model, side by side, so the VMX parser, the OVF
 * writer and `ovatool info` cannot drift apart (docs/ovf.md section 6.4). */
#include "ovatool/vm.h"

#include <stddef.h>
#include <strings.h>

static const struct {
    ova_scsi_model model;
    const char *vmx;
    const char *ovf; /* exact case: importers compare it literally */
} SCSI[] = {
    { OVA_SCSI_LSILOGIC, "lsilogic", "lsilogic" },
    { OVA_SCSI_LSISAS, "lsisas1068", "lsilogicsas" },
    { OVA_SCSI_PVSCSI, "pvscsi", "VirtualSCSI" },
    { OVA_SCSI_BUSLOGIC, "buslogic", "buslogic" },
};

static const struct {
    ova_nic_model model;
    const char *vmx;
    const char *ovf;
} NIC[] = {
    { OVA_NIC_E1000, "e1000", "E1000" },
    { OVA_NIC_E1000E, "e1000e", "E1000e" },
    { OVA_NIC_VMXNET3, "vmxnet3", "VmxNet3" },
    { OVA_NIC_VMXNET, "vmxnet", "VmxNet" },
    { OVA_NIC_PCNET32, "vlance", "PCNet32" },
};

#define COUNT(t) (sizeof(t) / sizeof(t)[0])

const char *ova_scsi_model_name(ova_scsi_model m)
{
    for (size_t i = 0; i < COUNT(SCSI); i++)
        if (SCSI[i].model == m)
            return SCSI[i].vmx;
    return "";
}

const char *ova_scsi_model_subtype(ova_scsi_model m)
{
    for (size_t i = 0; i < COUNT(SCSI); i++)
        if (SCSI[i].model == m)
            return SCSI[i].ovf;
    return NULL;
}

bool ova_scsi_model_parse(const char *name, ova_scsi_model *m)
{
    for (size_t i = 0; i < COUNT(SCSI); i++)
        if (strcasecmp(name, SCSI[i].vmx) == 0) {
            *m = SCSI[i].model;
            return true;
        }
    return false;
}

const char *ova_nic_model_name(ova_nic_model m)
{
    for (size_t i = 0; i < COUNT(NIC); i++)
        if (NIC[i].model == m)
            return NIC[i].vmx;
    return "";
}

const char *ova_nic_model_subtype(ova_nic_model m)
{
    for (size_t i = 0; i < COUNT(NIC); i++)
        if (NIC[i].model == m)
            return NIC[i].ovf;
    return NULL;
}

bool ova_nic_model_parse(const char *name, ova_nic_model *m)
{
    for (size_t i = 0; i < COUNT(NIC); i++)
        if (strcasecmp(name, NIC[i].vmx) == 0) {
            *m = NIC[i].model;
            return true;
        }
    return false;
}
