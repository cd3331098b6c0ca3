/*
 * events.h - the event log as the store sees it: rows written in the same
 * transaction as the change they describe.
 */
#ifndef SP_STORE_EVENTS_H
#define SP_STORE_EVENTS_H

#include "store/store.h"

#include <stdint.h>

/* Event types, the subjects they are published on. */
#define SP_EVENT_SPACE_CREATED "spaceport.space.created"
#define SP_EVENT_SPACE_UPDATED "spaceport.space.updated"
#define SP_EVENT_SPACE_DISABLED "spaceport.space.disabled"
#define SP_EVENT_SPACE_RESTORED "spaceport.space.restored"
#define SP_EVENT_SPACE_DELETED "spaceport.space.deleted"
#define SP_EVENT_MEMBER_ADDED "spaceport.space.member.added"
#define SP_EVENT_MEMBER_REMOVED "spaceport.space.member.removed"
#define SP_EVENT_MEMBER_UPDATED "spaceport.space.member.updated"
#define SP_EVENT_SHARE_CREATED "spaceport.share.created"
#define SP_EVENT_SHARE_UPDATED "spaceport.share.updated"
#define SP_EVENT_SHARE_DELETED "spaceport.share.deleted"
#define SP_EVENT_SHARE_EXPIRED "spaceport.share.expired"
#define SP_EVENT_REMOTE_REGISTERED "spaceport.remote.registered"
#define SP_EVENT_REMOTE_REMOVED "spaceport.remote.removed"
#define SP_EVENT_ITEM_CHANGED "spaceport.item.changed"

#endif
